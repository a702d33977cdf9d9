"""The reference for start-up: the barest PySide6 window, timed like the studio.

`python bench/bare_window.py` imports QtWidgets, shows an empty QMainWindow
with a menu bar and a status bar, and after its first paint prints
`startup_ms=... torch=False` and quits: the same line studio.launcher prints
under DEEPWIRE_EXIT_AFTER_PAINT=1, so bench/bench_startup.py times both alike.
What the studio takes beyond this is DeepWire's own start-up.
"""

import sys
import time

started = time.perf_counter()

from PySide6.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow  # noqa: E402


class FirstPaint(QObject):
    def __init__(self, app: QApplication):
        super().__init__()
        self.app, self.seen = app, False

    def eventFilter(self, watched, event):  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint and not self.seen:
            self.seen = True
            QTimer.singleShot(0, self.done)  # after the rest of this paint pass, as the launcher does
        return False

    def done(self) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        print(f"startup_ms={elapsed:.0f} torch={'torch' in sys.modules}", flush=True)
        self.app.quit()


def main() -> int:
    app = QApplication(sys.argv)
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.menuBar().addMenu("&File")
    window.statusBar().showMessage("ready")
    window.resize(1280, 800)
    watcher = FirstPaint(app)
    window.installEventFilter(watcher)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
