"""SIGTERM (logout, shutdown, `kill`) ends a studio session with unsaved changes promptly and
quietly, leaving the changes in a recovery file: no "save changes?" dialog that nobody can see."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.blocks import default_registry
from graph.project_io import load_project
from studio.files import find_recoverable

REPO = Path(__file__).resolve().parents[1]
# the real launcher, with one edit made through the document's commands once the window is up
DRIVER = """
import sys
from PySide6.QtCore import QTimer
import studio.main_window as main_window

original_init = main_window.MainWindow.__init__

def edited_init(self, *args, **kwargs):
    original_init(self, *args, **kwargs)
    def edit():
        net = self.document.network()
        new = self.document.add_block(net.name, "Dropout", (0.0, 900.0))
        self.document.rename_block(net.name, new, "drop_before_sigterm")
        print("edited", flush=True)
        if sys.argv[2] == "asking":  # the user pressed close: the unsaved-changes dialog is up
            QTimer.singleShot(0, self.close)
    QTimer.singleShot(200, edit)

main_window.MainWindow.__init__ = edited_init
from studio.launcher import main
sys.exit(main([sys.argv[1]]))

"""


@pytest.mark.skipif(os.name != "posix", reason="SIGHUP and a catchable SIGTERM are POSIX's")
@pytest.mark.parametrize(("signame", "moment"),
                         [("SIGTERM", "idle"), ("SIGHUP", "idle"), ("SIGTERM", "asking")])
def test_one_sigterm_writes_the_recovery_file_and_exits(tmp_path, signame, moment):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               DEEPWIRE_HOME=str(tmp_path / "deepwire"), PYTHONPATH=str(REPO))
    project = tmp_path / "mine.dw.json"
    project.write_bytes((REPO / "assets/examples/digits_cnn.dw.json").read_bytes())
    child = subprocess.Popen([sys.executable, "-c", DRIVER, str(project), moment], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "edited"
        time.sleep(0.5)  # the window is idle in its event loop, the change unsaved
        child.send_signal(getattr(signal, signame))
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "Traceback" not in err, err
    recovered = list((tmp_path / "data").rglob("recovery/*.dw.json"))
    assert len(recovered) == 1, recovered
    names = {b.name for b in load_project(recovered[0], default_registry()).network().blocks.values()}
    assert "drop_before_sigterm" in names
    assert "drop_before_sigterm" not in project.read_text()  # the user's own file is untouched
    # the next start offers it: no lock of a live session is left on it
    assert [entry.recovery_path for entry in find_recoverable(recovered[0].parent)] == recovered
    assert find_recoverable(recovered[0].parent)[0].original_path == project.resolve()
