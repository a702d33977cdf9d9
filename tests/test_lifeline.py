"""Children die with their parent; torchrun's temp folders go with the launcher (runtime/lifeline.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runtime.lifeline import ENV, child_environment, clean_stale_tempdirs, private_tempdir

ROOT = Path(__file__).resolve().parent.parent
SLEEPER = "from runtime.lifeline import die_with_parent; import time; die_with_parent(); print('armed', flush=True); time.sleep(60)"  # noqa: E501


def _gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                if stat.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_a_child_dies_when_its_parent_is_killed_outright():
    read, write = os.pipe()
    parent = os.fork()
    if parent == 0:  # the "parent": starts the child, reports its pid, then waits to be killed
        try:
            os.close(read)
            env = child_environment(dict(os.environ, PYTHONPATH=str(ROOT)))
            child = subprocess.Popen([sys.executable, "-c", SLEEPER], env=env, stdout=subprocess.PIPE,
                                     text=True)
            child.stdout.readline()  # "armed"
            os.write(write, str(child.pid).encode())
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(write)
    child_pid = int(os.read(read, 64).decode())
    os.close(read)
    assert not _gone(child_pid, 0.2)  # alive while its parent is
    os.kill(parent, signal.SIGKILL)
    os.waitpid(parent, 0)
    assert _gone(child_pid), "the child outlived its SIGKILLed parent"


def test_without_the_variable_nothing_is_armed(monkeypatch):
    from runtime.lifeline import die_with_parent

    monkeypatch.delenv(ENV, raising=False)
    assert die_with_parent() is False


def test_torchrun_temp_folders_go_with_their_launcher_or_with_the_next_one(tmp_path):
    with private_tempdir("torchrun", tmp_path) as folder:
        (folder / "torchelastic_abc").mkdir()
        assert folder.name == f"deepwire-torchrun-{os.getpid()}"
    assert list(tmp_path.iterdir()) == []
    pid = os.fork()  # a launcher that was killed: its folder stays until the next launch
    if pid == 0:
        (tmp_path / f"deepwire-torchrun-{os.getpid()}" / "torchelastic_x").mkdir(parents=True)
        os._exit(0)
    os.waitpid(pid, 0)
    (tmp_path / "deepwire-torchrun-notapid").mkdir()  # not ours: kept
    assert [p.name for p in clean_stale_tempdirs("torchrun", tmp_path)] == [f"deepwire-torchrun-{pid}"]
    assert [p.name for p in tmp_path.iterdir()] == ["deepwire-torchrun-notapid"]
