"""Recent files, autosave and recovery after a crash (studio/files.py)."""

import os
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import QSettings

from graph.examples import example_path
from graph.project_io import ProjectFileError, load_project, save_project
from studio.document import Document
from studio.files import (
    Autosave,
    RecentFiles,
    Recoverable,
    discard_recovery,
    find_recoverable,
    recover,
    with_project_suffix,
)


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def project_file(tmp_path, registry):
    """A user's own project file (a copy of an example), so saving never touches the bundled one."""
    path = tmp_path / "work" / "digits_cnn.dw.json"
    path.parent.mkdir()
    save_project(load_project(example_path("digits_cnn"), registry), path)
    return path


@pytest.fixture
def recovery(tmp_path):
    return tmp_path / "recovery"


def touch(path):
    path.write_text("{}", encoding="utf-8")
    return path


# ---------------------------------------------------------------- recent files


def test_recent_files_most_recent_first_without_duplicates(qapp, settings, tmp_path):
    recent = RecentFiles(settings)
    a, b = touch(tmp_path / "a.dw.json"), touch(tmp_path / "b.dw.json")
    changes = []
    recent.changed.connect(lambda: changes.append(True))
    recent.add(a)
    recent.add(b)
    recent.add(a)
    assert recent.paths() == [a, b]
    assert len(changes) == 3
    recent.remove(b)
    assert recent.paths() == [a]
    recent.clear()
    assert recent.paths() == []


def test_recent_files_keep_ten_and_persist(qapp, settings, tmp_path):
    recent = RecentFiles(settings)
    files = [touch(tmp_path / f"p{i}.dw.json") for i in range(12)]
    for path in files:
        recent.add(path)
    assert recent.paths() == files[::-1][:10]
    again = RecentFiles(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert again.paths() == files[::-1][:10]


def test_recent_files_forget_files_that_are_gone(qapp, settings, tmp_path):
    recent = RecentFiles(settings)
    a, b = touch(tmp_path / "a.dw.json"), touch(tmp_path / "b.dw.json")
    recent.add(a)
    recent.add(b)
    b.unlink()
    assert recent.paths() == [a]
    assert '"' + str(b) not in settings.value(RecentFiles.KEY)  # pruned in the settings too


def test_recent_files_survive_damaged_settings(qapp, settings, tmp_path):
    settings.setValue(RecentFiles.KEY, "not json [")
    recent = RecentFiles(settings)
    assert recent.paths() == []
    path = touch(tmp_path / "a.dw.json")
    recent.add(path)
    assert recent.paths() == [path]


def test_project_suffix_is_added_once():
    assert with_project_suffix("/x/model").name == "model.dw.json"
    assert with_project_suffix("/x/model.dw.json").name == "model.dw.json"


# ---------------------------------------------------------------- autosave


def test_nothing_is_written_while_the_project_is_unchanged(qapp, registry, project_file, recovery):
    document = Document(registry, load_project(project_file, registry), project_file)
    autosave = Autosave(document, recovery)
    assert not autosave.timer.isActive()
    assert autosave.autosave_now() is None
    assert not recovery.exists() or not list(recovery.iterdir())


def test_autosave_writes_the_exact_project_and_never_the_users_file(qapp, registry, project_file, recovery):
    document = Document(registry, load_project(project_file, registry), project_file)
    autosave = Autosave(document, recovery, interval_ms=60_000)
    original_text = project_file.read_bytes()
    document.rename_block("model", "b2", "edited")
    assert autosave.timer.isActive() and autosave.timer.interval() == 60_000
    path = autosave.autosave_now()
    assert path == autosave.recovery_path and path.parent == recovery
    assert load_project(path, registry) == document.project
    assert project_file.read_bytes() == original_text
    assert document.modified  # an autosave is not a save


def test_the_timer_fires_the_autosave(qtbot, registry, project_file, recovery):
    document = Document(registry, load_project(project_file, registry), project_file)
    autosave = Autosave(document, recovery, interval_ms=20)
    with qtbot.waitSignal(autosave.saved, timeout=2000) as saved:
        document.set_param("model", "b2", "channels", 12)
    assert load_project(saved.args[0], registry).network().block("b2").params["channels"] == 12


def test_a_clean_save_or_a_clean_close_removes_the_recovery_file(qapp, registry, project_file, recovery):
    document = Document(registry, load_project(project_file, registry), project_file)
    autosave = Autosave(document, recovery)
    document.rename_block("model", "b2", "edited")
    path = autosave.autosave_now()
    document.save()
    assert not path.exists() and not autosave.timer.isActive()
    document.rename_block("model", "b2", "again")
    path = autosave.autosave_now()
    document.undo_stack.undo()  # back to the saved state: the file on disk is the truth
    assert not path.exists()
    document.undo_stack.redo()
    path = autosave.autosave_now()
    autosave.close()
    assert not path.exists() and find_recoverable(recovery) == []
    autosave.close()  # twice is harmless
    document.rename_block("model", "b2", "after close")
    assert not autosave.timer.isActive() and autosave.autosave_now() is None
    assert list(recovery.glob("*.dw.json")) == []


def test_save_as_starts_a_new_recovery_file(qapp, registry, recovery, tmp_path):
    document = Document(registry)
    autosave = Autosave(document, recovery)
    document.add_block("model", "VectorInput")
    untitled = autosave.autosave_now()
    assert untitled.name.startswith("untitled-")
    document.save_as(tmp_path / "named.dw.json")
    assert not untitled.exists()
    document.add_block("model", "Linear")
    named = autosave.autosave_now()
    assert named.name.startswith("named-")


def test_recovery_after_a_crash_restores_the_exact_project(qapp, registry, project_file, recovery):
    document = Document(registry, load_project(project_file, registry), project_file)
    autosave = Autosave(document, recovery)
    document.rename_block("model", "b2", "edited")
    document.group_blocks("model", ["b2", "b3"], "stem")
    document.duplicate_blocks("model", ["b5"])
    autosave.timer.timeout.emit()  # the timer's slot, as a minute passing would call it
    edited = document.project.copy()
    assert find_recoverable(recovery) == []  # still running: not offered to anyone
    del document, autosave  # dropped without closing: what a crash leaves behind

    [entry] = find_recoverable(recovery)
    assert entry.original_path == project_file.resolve() and entry.recovery_path.is_file()
    fresh = Document(registry)
    new_autosave = Autosave(fresh, recovery)
    recover(entry, fresh, new_autosave)
    assert fresh.project == edited
    assert fresh.path == project_file.resolve() and fresh.modified
    assert fresh.title() == "• digits_cnn.dw.json — DeepWire"
    assert not entry.recovery_path.exists()  # the leftover is gone...
    assert load_project(new_autosave.recovery_path, registry) == edited  # ...kept safe by this session
    fresh.save()
    assert load_project(project_file, registry) == edited
    assert not new_autosave.recovery_path.exists()


def test_recovery_after_a_real_crash_of_another_process(qapp, registry, recovery):
    crash = textwrap.dedent(f"""
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from graph.blocks import default_registry
        from studio.document import Document
        from studio.files import Autosave
        document = Document(default_registry())
        autosave = Autosave(document, {str(recovery)!r})
        first = document.add_block("model", "VectorInput", (10, 20))
        second = document.add_block("model", "Linear", (250, 20))
        document.connect("model", __import__("graph.model").model.Edge(first, second, "x"))
        autosave.autosave_now()
        os._exit(3)  # a crash: no clean-up of any kind
    """)
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    [entry] = find_recoverable(recovery)
    assert entry.original_path is None
    document = Document(registry)
    recover(entry, document)
    net = document.network()
    assert [b.type for b in net.blocks.values()] == ["VectorInput", "Linear"]
    assert len(net.edges) == 1 and document.modified and document.path is None
    assert find_recoverable(recovery) == []


def test_declined_and_broken_recovery_files(qapp, registry, recovery):
    recovery.mkdir()
    broken = recovery / "broken-1234.dw.json"
    broken.write_text("{", encoding="utf-8")
    [entry] = find_recoverable(recovery)
    assert entry == Recoverable(broken, None, entry.modified)
    document = Document(registry)
    before = document.project
    with pytest.raises(ProjectFileError):
        recover(entry, document)
    assert document.project is before and not document.modified
    discard_recovery(entry)
    assert find_recoverable(recovery) == [] and not broken.exists()


def test_newest_recovery_first(qapp, registry, recovery):
    recovery.mkdir()
    for i, name in enumerate(["old", "new"]):
        path = recovery / f"{name}-0000.dw.json"
        save_project(Document(registry).project, path)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    assert [e.recovery_path.name for e in find_recoverable(recovery)] == ["new-0000.dw.json",
                                                                           "old-0000.dw.json"]
