"""Regression guard for the PySide6 pin (< 6.12).

PySide6 6.12.0 drops a reference to `None` on every call of a method that
returns nothing; after a few thousand such calls (pyqtgraph painting an
axis, say) Python aborts with "Fatal Python error: none_dealloc". 6.11.3 is
sound. The loop runs in a child process, because the failure is an abort
that would take pytest down with it.
"""

import os
import subprocess
import sys

import PySide6

LOOP = """
from PySide6.QtGui import QGuiApplication, QImage, QPainter
app = QGuiApplication([])
image = QImage(64, 64, QImage.Format.Format_ARGB32)
painter = QPainter(image)
for i in range(200_000):
    painter.drawLine(0, i % 64, 63, 63 - i % 64)  # returns None: the call that leaked
painter.end()
print("survived", image.width())
"""


def test_pinned_pyside6_is_below_6_12():
    major, minor = (int(part) for part in PySide6.__version__.split(".")[:2])
    assert (major, minor) < (6, 12), f"PySide6 {PySide6.__version__} is not the pinned range"


def test_many_calls_returning_none_do_not_abort_python():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", LOOP], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "survived 64"
