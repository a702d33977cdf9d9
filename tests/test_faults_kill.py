"""Kill and signal trials: SIGKILL, SIGTERM or SIGINT at a random moment of a save, an autosave,
an export (each format), a training run, a sweep (and, slow, `train --nproc 2`).

Each trial is a child forked from tests/kill_server.py (torch already
imported, so a trial costs the work itself, not a Python start-up) that runs
the job in-process, as `deepwire ...` would, and is signalled after a random
delay. After the child has ended, and after the clean-up the next start does
(graph.atomic.clean_temporaries in the folders written, lifeline's stale
torchrun folders), every trial asserts:
- the file being replaced is the previous one or a complete new one (a
  project loads and is one of the versions saved; an ONNX model passes
  onnx.checker; a .pt2 is a whole zip archive; a .py parses; an .npz and
  every checkpoint load; JSON files parse), never a partial file;
- no temporary file is left after the clean-up;
- no process the trial started is left (found by a marker in /proc/*/environ);
- no torchelastic_* or deepwire-torchrun-* folder is left in the trial's TMPDIR;
- a catchable signal ends the child within its grace time (no hang) and
  prints no Python traceback.
Counts per signal and per surface are printed (run with -s to see them).
Default: five trials (save, autosave, two exports, train); slow: stressed(240) over every
surface and signal, plus train --nproc 2.
"""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from graph.atomic import clean_temporaries, is_temporary
from graph.blocks import default_registry
from graph.examples import resolve_project
from graph.project_io import ProjectFileError, load_project, save_project
from runtime.lifeline import clean_stale_tempdirs
from tests import reporting
from tests.conftest import stressed

ROOT = Path(__file__).resolve().parent.parent
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
EXPORTS = {"python": ".py", "script": ".py", "onnx": ".onnx", "torch-export": ".pt2"}
MARKER = "DEEPWIRE_KILL_TRIAL"
SURFACES = ("save", "autosave", "export-python", "export-script", "export-onnx", "export-torch-export",
            "train", "sweep")
DELAYS = {"save": 0.6, "autosave": 2.0, "export-python": 3.0, "export-script": 3.0, "export-onnx": 6.0,
          "export-torch-export": 5.0, "train": 6.0, "sweep": 8.0, "train-nproc": 10.0}


class Server:
    """The fork server, started once per test module."""

    def __init__(self, preload: bool = False):
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
                   KILL_SERVER_PRELOAD="1" if preload else "")
        env.pop("DEEPWIRE_DIE_WITH_PARENT", None)
        self.process = subprocess.Popen([sys.executable, "-m", "tests.kill_server"], cwd=ROOT, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = json.loads(self.process.stdout.readline())
        assert "ready" in ready

    def run(self, job: dict) -> dict:
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def heavy_server():
    s = Server(preload=True)
    yield s
    s.close()


class Prepared:
    """The previous good exports (of another project, so old and new differ), made when first needed,
    and two versions of a project to save in turn."""

    def __init__(self, server: Server, folder: Path):
        self.server, self.folder = server, folder
        self._good: dict[str, list[Path]] = {}
        registry = default_registry()
        folder.mkdir(parents=True, exist_ok=True)
        self.versions = []
        for i, name in enumerate(("iris_mlp", "digits_cnn")):
            path = folder / f"v{i}.dw.json"
            save_project(load_project(resolve_project(name), registry), path)
            self.versions.append(path)

    def good(self, fmt: str) -> list[Path]:
        if fmt not in self._good:
            out = self.folder / fmt / f"model{EXPORTS[fmt]}"
            out.parent.mkdir(parents=True)
            log = self.folder / f"{fmt}.log"
            argv = ["export", "digits_mlp", "-f", fmt, "-o", str(out)]
            answer = self.server.run({"op": "cli", "argv": argv, "cwd": str(out.parent), "log": str(log),
                                      "delay": None})
            assert answer["code"] == 0, log.read_text()
            self._good[fmt] = sorted(out.parent.iterdir())
        return self._good[fmt]


@pytest.fixture
def prepared(server, tmp_path):
    return Prepared(server, tmp_path / "prepared")


@pytest.fixture
def heavy_prepared(heavy_server, tmp_path):
    return Prepared(heavy_server, tmp_path / "prepared")


# --- what a trial leaves behind ---------------------------------------------------------------

def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds MARKER=marker (the trial's child and all it started)."""
    found = []
    needle = f"{MARKER}={marker}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                        if stat.read().rsplit(")", 1)[-1].split()[0] != "Z":
                            found.append(int(entry))
        except OSError:
            continue
    return found


def _check_file(path: Path, registry, problems: list[str], versions: list[str] | None = None) -> None:
    """A file with a real name must be complete; what complete means depends on its kind."""
    name = path.name
    try:
        if name.endswith(".dw.json"):
            project = load_project(path, registry)
            if versions is not None and path.read_text(encoding="utf-8") not in versions:
                problems.append(f"{path}: a project, but neither version saved ({project.name})")
        elif name.endswith(".json"):
            json.loads(path.read_text(encoding="utf-8"))
        elif name.endswith(".py"):
            ast.parse(path.read_text(encoding="utf-8"))
        elif name.endswith(".onnx"):
            import onnx

            onnx.checker.check_model(onnx.load(str(path)))
        elif name.endswith(".pt2"):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                if bad is not None:
                    problems.append(f"{path}: damaged member {bad}")
        elif name.endswith(".npz"):
            import numpy as np

            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    data[key]
        elif name.endswith(".pt"):
            import torch

            torch.load(path, map_location="cpu", weights_only=True)
        elif name == "metrics.jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            for line in lines[:-1]:  # an append-only log: only its last line may be cut by a kill
                json.loads(line)
    except (ProjectFileError, ValueError, OSError, zipfile.BadZipFile, RuntimeError, Exception) as err:  # noqa: BLE001
        problems.append(f"{path}: incomplete or damaged: {type(err).__name__}: {str(err)[:200]}")


def inspect(folder: Path, tmp: Path, marker: str, registry, versions: list[str] | None) -> list[str]:
    """Everything wrong with what a trial left, after the next start's clean-up."""
    problems = []
    deadline = time.monotonic() + 15  # a parent-death signal is prompt, but the machine may be busy
    left = processes_with(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_with(marker)
    if left:
        problems.append(f"processes left behind: {left}")
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for dirpath, _dirs, _files in os.walk(folder):
        clean_temporaries(dirpath)  # what the next save, export or start in that folder does
    # seen once in a loaded slow run: the writer's pid still counted as alive at the first clean-up
    # (a dying grandchild, or the pid already reused); the next start's clean-up a moment later removes it
    settle = time.monotonic() + 5
    while time.monotonic() < settle and any(is_temporary(Path(d) / n) for d, _s, names in os.walk(folder)
                                            for n in names):
        time.sleep(0.2)
        for dirpath, _dirs, _files in os.walk(folder):
            clean_temporaries(dirpath)
    clean_stale_tempdirs("torchrun", tmp)
    for dirpath, _dirs, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            if is_temporary(path):
                problems.append(f"{path}: temporary left after clean-up")
            elif path.suffix not in (".log", ".db", ".lock") and "journal" not in name:
                _check_file(path, registry, problems, versions if path.name == "project.dw.json"
                            and path.parent == folder else None)
    for dirpath, dirnames, filenames in os.walk(tmp):
        for name in dirnames + filenames:
            if name.startswith(("torchelastic_", "deepwire-torchrun-")):
                problems.append(f"{Path(dirpath) / name}: torchrun temp left behind")
    return problems


# --- the trials -------------------------------------------------------------------------------

def make_job(surface: str, trial: Path, prepared: Prepared,
             rng: random.Random) -> tuple[dict, list[str] | None]:
    """The job for one trial and, for a save, the texts the project file may hold."""
    work = trial / "work"
    work.mkdir(parents=True)
    job = {"cwd": str(work), "op": "cli", "wait_for": None}
    versions = None
    if surface == "save":
        path = work / "project.dw.json"
        shutil.copy(prepared.versions[0], path)
        job.update(op="save", argv=[str(path), *map(str, prepared.versions)])
        versions = [p.read_text(encoding="utf-8") for p in prepared.versions]
    elif surface == "autosave":
        job.update(op="autosave", argv=[str(work / "recovery")])
    elif surface.startswith("export-"):
        fmt = surface.removeprefix("export-")
        for good in prepared.good(fmt):
            shutil.copy(good, work / good.name)
        job["argv"] = ["export", "iris_mlp", "-f", fmt, "-o", str(work / f"model{EXPORTS[fmt]}"), "--force"]
    elif surface == "train":
        job["argv"] = ["train", "iris_mlp", "--epochs", "200", "--out", str(work / "run"), "--quiet"]
    elif surface == "sweep":
        job["argv"] = ["sweep", "iris_mlp", "--trials", "4", "--epochs", "30", "--parallel", "2",
                       "--out", str(work / "sweep")]
        job["wait_for"] = str(work / "sweep" / "logs")  # the trial processes are starting
    elif surface == "train-nproc":
        job["argv"] = ["train", "iris_mlp", "--epochs", "200", "--nproc", "2", "--out", str(work / "run"),
                       "--quiet"]
    job["delay"] = rng.uniform(0.0, DELAYS[surface])
    return job, versions


def run_trials(server, prepared, folder: Path, plan: list[tuple[str, str]], seed: int, capsys) -> None:
    rng = random.Random(seed)
    registry = default_registry()
    counts: Counter = Counter()
    failures: list[str] = []
    for i, (surface, signame) in enumerate(plan):
        trial = folder / f"t{i:04d}-{surface}-{signame}"
        tmp = trial / "tmp"
        job, versions = make_job(surface, trial, prepared, rng)
        tmp.mkdir()
        marker = f"{os.getpid()}-{i}"
        job.update(signal=int(SIGNALS[signame]), grace=90, log=str(trial / "child.log"),
                   env={"TMPDIR": str(tmp), MARKER: marker, "OMP_NUM_THREADS": "1",
                        "DEEPWIRE_DIE_WITH_PARENT": str(server.process.pid)})  # never outlive the server
        answer = server.run(job)
        counts[("signal", signame)] += 1
        counts[("surface", surface)] += 1
        counts[("landed" if answer["killed"] else "finished first", "")] += 1
        reporting.add("kills", "trials")
        reporting.add("kills", f"signal|{signame}")
        reporting.add("kills", f"surface|{surface}")
        reporting.add("kills", "signalled mid-job" if answer["killed"] else "finished first")
        problems = inspect(Path(job["cwd"]), tmp, marker, registry, versions)
        log = (trial / "child.log").read_text(encoding="utf-8", errors="replace")
        if answer["hung"]:
            problems.append(f"still running {job['grace']} s after {signame}")
        if "Traceback" in log:
            problems.append("printed a traceback:\n" + log[-1500:])
        if not answer["killed"] and answer["code"] not in (0, 1, 130, 143):
            problems.append(f"ended with exit code {answer['code']} before the signal: {log[-600:]}")
        if problems:
            failures.append(f"{trial.name} (delay {job['delay']:.2f} s): " + "; ".join(problems))
            reporting.add("kills", "failures")
            reporting.add("kills", f"failures|{surface}")
            reporting.example("kills", surface, failures[-1][:1000])
            with capsys.disabled():  # at once, so a long run that is cut short still tells
                print(f"\nkill trial failed: {failures[-1][:2000]}", flush=True)
        else:
            shutil.rmtree(trial, ignore_errors=True)
    with capsys.disabled():
        per_signal = ", ".join(f"{name} {counts[('signal', name)]}" for name in SIGNALS)
        per_surface = ", ".join(f"{s} {counts[('surface', s)]}" for s in (*SURFACES, "train-nproc")
                                if counts[("surface", s)])
        print(f"\nkill trials: {len(plan)} ({counts[('landed', '')]} signalled mid-job, "
              f"{counts[('finished first', '')]} finished first); per signal: {per_signal}; "
              f"per surface: {per_surface}; failures: {len(failures)}")
    assert failures == [], "\n".join(failures[:10])


@pytest.mark.slow  # 225 trials in the slow suite; kept runnable alone as the quick sample
def test_a_few_kills_lose_nothing_and_leave_nothing(server, prepared, tmp_path, capsys):
    # a handful for the default suite; sweeps, ONNX and torchrun are in the slow test (and the
    # parent-death mechanism the sweep relies on is in test_lifeline.py)
    plan = [("save", "SIGKILL"), ("autosave", "SIGKILL"), ("export-python", "SIGTERM"),
            ("export-torch-export", "SIGINT"), ("train", "SIGTERM")]
    run_trials(server, prepared, tmp_path / "trials", plan, seed=1, capsys=capsys)


KILL_CHUNKS = 8  # the slow trials in chunks, so that pytest-xdist's workers share them


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(KILL_CHUNKS))
def test_hundreds_of_kills_lose_nothing_and_leave_nothing(chunk, heavy_server, heavy_prepared, tmp_path,
                                                          capsys):
    rng = random.Random(7)
    count = stressed(216)
    plan = [(SURFACES[i % len(SURFACES)], rng.choice(list(SIGNALS))) for i in range(count)]
    plan += [("train-nproc", name) for name in SIGNALS for _ in range(max(1, stressed(3)))]
    run_trials(heavy_server, heavy_prepared, tmp_path / "trials", plan[chunk::KILL_CHUNKS], seed=8 + chunk,
               capsys=capsys)


def kill_summary() -> str:
    """All kill trials of this session, by every xdist worker (tests/reporting.py)."""
    counts = reporting.COUNTS["kills"]
    per_signal = ", ".join(f"{name} {counts[f'signal|{name}']}" for name in SIGNALS)
    per_surface = ", ".join(f"{s} {counts[f'surface|{s}']} ({counts[f'failures|{s}']} failed)"
                            for s in (*SURFACES, "train-nproc") if counts[f"surface|{s}"])
    lines = [f"kill trials: {counts['trials']} ({counts['signalled mid-job']} signalled mid-job, "
             f"{counts['finished first']} finished first); failures: {counts['failures']}",
             f"per signal: {per_signal}", f"per surface: {per_surface}"]
    lines += [f"  e.g. [{s}] {text}" for s, text in sorted(reporting.EXAMPLES.get("kills", {}).items())]
    return "\n".join(lines)
