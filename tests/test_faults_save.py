"""Kill the process in the middle of saving, many times: the project file is never lost.

A forked child saves two versions of a large project (about 1 MB of JSON)
over the same file in a loop; the parent SIGKILLs it at a random moment.
Half the trials make `dumps_project` instant in the child, so nearly every
kill lands in the file-system part of the save (write, fsync, chmod, rename)
rather than in building the text. After every kill the file must load and be
byte-for-byte one of the two versions; stray temporary files of killed saves
must not stop the next save, which removes them (their writer is gone).
Default: 20 kills; slow: 100 (x DEEPWIRE_STRESS).

Autosave: a studio process (Document + Autosave) edits and autosaves in a
loop and is SIGKILLed at a random moment; the recovery file it leaves must
load, be one of the states it autosaved, and `recover` must bring it back.
Default: 2 kills; slow: 6 more (x DEEPWIRE_STRESS).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import graph.project_io as project_io
from graph.atomic import is_temporary
from graph.model import Block, Edge, Network, Project
from graph.project_io import dumps_project, load_project, save_project
from tests.conftest import stressed

BLOCKS = 3000


def _big_project(registry, name: str) -> Project:
    linear = registry.get("Linear").defaults()
    blocks = [Block("b0", "VectorInput", "in", {"features": 8})]
    blocks += [Block(f"b{i}", "Linear", f"{name} layer {i} — é", dict(linear), (i * 1.5, i * 2.5))
               for i in range(1, BLOCKS)]
    edges = [Edge(f"b{i}", f"b{i + 1}", "x") for i in range(BLOCKS - 1)]
    return Project(name, [Network("model", blocks, edges)])


def _saving_child(versions: list[Project], texts: list[str], path: Path, instant_text: bool) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: save forever, alternating versions, until killed
        if instant_text:
            by_id = {id(p): t for p, t in zip(versions, texts)}
            project_io.dumps_project = lambda project: by_id[id(project)]
        i = 0
        while True:
            save_project(versions[i % 2], path)
            i += 1
    finally:
        os._exit(0)


def kill_during_saves(registry, folder: Path, kills: int, seed: int) -> dict:
    rng = random.Random(seed)
    versions = [_big_project(registry, "old"), _big_project(registry, "new")]
    texts = [dumps_project(v) for v in versions]
    path = folder / "big.dw.json"
    save_project(versions[0], path)
    seen = {0: 0, 1: 0}
    for trial in range(kills):
        instant = trial % 2 == 1
        pid = _saving_child(versions, texts, path, instant)
        time.sleep(rng.uniform(0.0, 0.03 if instant else 0.3))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        text = path.read_text(encoding="utf-8")
        assert text in texts, f"kill {trial}: the project file is neither version ({len(text)} chars)"
        seen[texts.index(text)] += 1
    strays = sorted(p for p in folder.iterdir() if p.name != path.name)
    assert all(is_temporary(p) for p in strays), strays  # only temporaries, named so nothing takes one
    assert load_project(path, registry) in versions
    # the next save is not stopped by them, and clears them away: their writers are dead
    save_project(versions[1], path)
    assert sorted(folder.iterdir()) == [path] and path.read_text(encoding="utf-8") == texts[1]
    return {"kills": kills, "old": seen[0], "new": seen[1], "strays": len(strays)}


def _report(result: dict, capsys) -> None:
    with capsys.disabled():
        print(f"\nkills during save: {result['kills']} tried, 0 losses (file was the old version "
              f"{result['old']}x, the new {result['new']}x; {result['strays']} stray temp files)")


def test_killing_a_save_never_loses_the_previous_file(registry, tmp_path, capsys):
    result = kill_during_saves(registry, tmp_path, kills=20, seed=1)
    _report(result, capsys)


@pytest.mark.slow
def test_killing_a_save_200_times_never_loses_the_previous_file(registry, tmp_path, capsys):
    result = kill_during_saves(registry, tmp_path, kills=stressed(100), seed=2)
    _report(result, capsys)
    assert result["old"] > 0 and result["new"] > 0  # kills landed on both sides of the rename


AUTOSAVING_CHILD = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from graph.blocks import default_registry
    from studio.document import Document
    from studio.files import Autosave
    document = Document(default_registry())
    autosave = Autosave(document, sys.argv[1])
    for i in range(100000):
        document.add_block("model", "Linear", (float(i), 0.0))
        autosave.autosave_now()
        print(len(document.network("model").blocks), flush=True)
""")


@pytest.mark.parametrize("trial", [0, 1] + [pytest.param(t, marks=pytest.mark.slow)
                                            for t in range(2, 2 + stressed(6))])
def test_killing_the_studio_while_it_autosaves_leaves_a_recoverable_project(qapp, registry, tmp_path, trial):
    from studio.document import Document
    from studio.files import find_recoverable, recover

    recovery = tmp_path / "recovery"
    child = subprocess.Popen([sys.executable, "-c", AUTOSAVING_CHILD, str(recovery)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    counts = []
    target = random.Random(trial).randint(5, 60)
    try:
        for line in child.stdout:
            counts.append(int(line))
            if len(counts) == target:
                time.sleep(random.Random(trial).uniform(0, 0.01))  # land anywhere in the next autosave
                child.kill()
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    assert len(counts) == target, child.stderr.read()
    counts += [int(line) for line in child.stdout.read().split()]  # what it printed before the kill landed
    [entry] = find_recoverable(recovery)
    document = Document(registry)
    recover(entry, document)
    blocks = len(document.network().blocks)
    # the last autosave it reported, or one that finished just before the kill and was not yet reported
    assert blocks in (counts[-1], counts[-1] + 1), (blocks, counts[-3:])
    assert document.modified


def _dead_writers_temporary(path: Path) -> Path:
    """The temporary a writer killed mid-save leaves (named by graph.atomic, its pid now gone)."""
    from graph.atomic import temporary_for

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        temp = temporary_for(path)
        temp.write_text('{"format": "deepw')  # cut short
        os.write(write, str(temp).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    temp = Path(os.read(read, 4096).decode())
    os.close(read)
    return temp


def test_the_next_start_removes_what_killed_saves_left_and_never_offers_it(qtbot, registry, tmp_path,
                                                                              monkeypatch):
    from studio.files import find_recoverable
    from tests.studio_support import close_window, make_window, refuse_dialogs

    recovery = tmp_path / "recovery"
    recovery.mkdir()
    autosaved = _dead_writers_temporary(recovery / "untitled-1.dw.json")
    assert autosaved.exists() and not autosaved.name.endswith(".dw.json")
    assert find_recoverable(recovery) == [] and not autosaved.exists()

    project = tmp_path / "mine.dw.json"
    save_project(load_project(_example("iris_mlp"), registry), project)
    saved = _dead_writers_temporary(project)
    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry)
    try:
        assert window.files.open_path(project, ask=False)
        assert not saved.exists() and project.is_file()
    finally:
        close_window(window)


def _example(name: str) -> Path:
    from graph.examples import resolve_project

    return resolve_project(name)
