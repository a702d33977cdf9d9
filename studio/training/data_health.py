"""The Data panel's health check: the report of `deepwire data`, with a progress bar and Cancel.

"Check data" scans the project's data (runtime/data/health) on a daemon
thread, with a copy of the project, so the window never waits on a disk and
no edit races the scan; the thread writes its progress into a small shared
record that a timer shows, and Cancel sets an event the scan looks at every
few files (it stops within a fraction of a second, really). The result: the
verdict, samples per split, a bar per class, image sizes and modes, the dry
run (its block is a link: clicking it selects the block on the canvas), and
every problem with its files. An edit to the data or the network marks the
report as out of date rather than scanning again: a large folder takes
seconds.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.document import Document

POLL_MS = 50  # how often the GUI shows the scan's progress
MAX_BARS = 40  # classes drawn as bars; the rest are summed in one line
IDLE_TEXT = ("Check data scans every file the data source names (headers only) and tries the network "
             "on the shape the samples really have.")
FILES_SHOWN = 5  # file names under each problem (the report keeps 20, `deepwire data --json` lists them)
GOOD, BAD, WARN = "#2e7d32", "#c0392b", "#b9770e"


@dataclass
class _Scan:
    """One scan on its thread; the GUI reads `done`, `total`, `what` and, at the end, `report`."""

    project: object
    registry: object
    base_dir: object
    stop: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    total: int | None = None
    what: str = "starting"
    report: object = None
    error: BaseException | None = None
    discard: bool = False  # the project was replaced meanwhile: show nothing of it

    def start(self) -> None:
        threading.Thread(target=self._run, name="data-health", daemon=True).start()

    def _progress(self, done, total, what) -> None:
        self.done, self.total, self.what = done, total, what

    def _run(self) -> None:
        try:
            from runtime.data.health import check_data

            self.report = check_data(self.project, self.registry, base_dir=self.base_dir,
                                     progress=self._progress, stop=self.stop.is_set)
        except BaseException as err:  # noqa: BLE001 - handed to the GUI thread, which says it
            self.error = err
        finally:
            self.finished.set()


def breakable(text: str) -> str:
    """Escaped HTML in which a long path may wrap after each '/' (a 300-pixel dock never scrolls sideways)."""
    return html.escape(text, quote=False).replace("/", "/\u200b").replace("_", "_\u200b")


class ClassBars(QWidget):
    """One row per class: name, count, a bar as long as the count (painted: compact, never cut off)."""

    ROW = 16

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[tuple[str, int]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_counts(self, names: list[str], counts: list[int]) -> None:
        rows = list(zip(names, counts))
        if len(rows) > MAX_BARS:
            rest = rows[MAX_BARS - 1:]
            rows = rows[:MAX_BARS - 1] + [(f"{len(rest)} more classes", sum(c for _, c in rest))]
        self.rows = rows
        self.setFixedHeight(self.ROW * len(rows) + 2)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(200, self.ROW * len(self.rows) + 2)

    def paintEvent(self, event) -> None:
        if not self.rows:
            return
        painter = QPainter(self)
        metrics = QFontMetrics(self.font())
        name_width = min(max(metrics.horizontalAdvance(n) for n, _ in self.rows) + 14, self.width() // 3)
        count_width = max(metrics.horizontalAdvance(f"{c:,}") for _, c in self.rows) + 8
        top = max(c for _, c in self.rows) or 1
        bar_width = max(10, self.width() - name_width - count_width - 4)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        for index, (name, count) in enumerate(self.rows):
            y = index * self.ROW
            painter.setPen(text)
            shown = metrics.elidedText(name, Qt.TextElideMode.ElideRight, name_width - 6)
            painter.drawText(0, y, name_width - 4, self.ROW, Qt.AlignmentFlag.AlignVCenter, shown)
            painter.drawText(name_width, y, count_width - 8, self.ROW,
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{count:,}")
            length = round(bar_width * count / top)
            colour = QColor(BAD) if count == 0 else QColor("#4a90d9")
            painter.fillRect(name_width + count_width, y + 3, max(length, 2), self.ROW - 6, colour)
        painter.end()


class DataHealth(QWidget):
    """The health section of the Data panel."""

    blockRequested = Signal(str, str)  # network, block id: the dry run's block, to select on the canvas

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.scan: _Scan | None = None
        self.report = None  # the last finished report (tests read it)
        self._checked_key = None
        self.check_button = QPushButton("Check data")
        self.check_button.setToolTip("Scan the data: counts per class, bad files, image sizes, and whether "
                                     "the network takes it (deepwire data PROJECT). Reads, never writes.")
        self.check_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bars = ClassBars()
        self.dry_run = QLabel()
        self.dry_run.setWordWrap(True)
        self.dry_run.setTextFormat(Qt.TextFormat.RichText)
        self.dry_run.linkActivated.connect(self._link)
        # rich text, not a tree: a 300-pixel dock wraps long messages instead of cutting them off
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.problems.linkActivated.connect(self._link)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(QLabel("<b>Health</b>"), 1)
        buttons.addWidget(self.check_button)
        running = QHBoxLayout()
        running.setContentsMargins(0, 0, 0, 0)
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)
        self.running = QWidget()
        self.running.setLayout(running)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(buttons)
        column.addWidget(self.running)
        for widget in (self.verdict, self.summary, self.bars, self.dry_run, self.problems):
            column.addWidget(widget)
        self._show_idle(IDLE_TEXT)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        document.undo_stack.indexChanged.connect(self._maybe_stale)
        document.projectReplaced.connect(self._forget)

    # --- running ---
    def _key(self):
        project = self.document.project
        return (repr(project.data), [(repr(n.blocks), repr(n.edges)) for n in project.networks],
                repr(project.training))

    def start(self) -> None:
        if self.scan is not None:
            return
        path = self.document.path
        self.scan = _Scan(self.document.project.copy(), self.document.registry,
                          path.parent if path is not None else None)
        self._checked_key = self._key()
        self.check_button.setEnabled(False)
        self.running.setVisible(True)
        self.progress.setRange(0, 0)  # busy until the scan knows how many files there are
        self.progress.setFormat("listing files")
        self.scan.start()
        self._timer.start()

    def cancel(self) -> None:
        if self.scan is not None:
            self.scan.stop.set()
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("cancelling")

    def is_running(self) -> bool:
        return self.scan is not None

    def _poll(self) -> None:
        scan = self.scan
        if scan is None:
            self._timer.stop()
            return
        if not scan.finished.is_set():
            if scan.total and not scan.stop.is_set():
                self.progress.setRange(0, scan.total)
                self.progress.setValue(scan.done)
                self.progress.setFormat(f"{scan.what}: {scan.done:,} of {scan.total:,}")
            elif not scan.stop.is_set():
                self.progress.setFormat(scan.what)
            return
        self._timer.stop()
        self.scan = None
        self.check_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.running.setVisible(False)
        if scan.discard:
            self._show_idle(IDLE_TEXT)
            return
        if scan.error is not None:
            self._show_idle(f"The check failed: {type(scan.error).__name__}: {scan.error}", BAD)
            return
        self.show_report(scan.report)

    def _maybe_stale(self, *_args) -> None:
        if self.report is not None and self._checked_key != self._key() and self.scan is None:
            self.verdict.setText(self.verdict.text().split("<br>")[0] +
                                 "<br><i>The data or the network changed since: check again.</i>")

    def _forget(self, *_args) -> None:
        """Another project: its report says nothing about this one (a running scan is cancelled)."""
        if self.scan is not None:
            self.scan.discard = True
            self.cancel()
        self.report = None
        self._show_idle(IDLE_TEXT)

    # --- showing ---
    def _show_idle(self, text: str, colour: str | None = None) -> None:
        self.running.setVisible(False)
        self.verdict.setText(f"<span style='color:{colour}'>{text}</span>" if colour else text)
        for widget in (self.summary, self.bars, self.dry_run, self.problems):
            widget.setVisible(False)

    def show_report(self, report) -> None:
        self.report = report
        errors = [p for p in report.problems if p.severity == "error"]
        if report.cancelled:
            verdict, colour = "Cancelled: the figures cover only what was scanned.", WARN
        elif errors:
            verdict, colour = f"Not ready: {len(errors)} problem(s) would stop training.", BAD
        else:
            warned = f" ({len(report.problems)} warning(s))" if report.problems else ""
            verdict, colour = f"Healthy: ready to train{warned}.", GOOD
        self.verdict.setText(f"<b style='color:{colour}'>{verdict}</b>")
        self.summary.setText("<br>".join(self.summary_lines(report)))
        self.summary.setVisible(True)
        if report.class_names and report.class_counts:
            self.bars.set_counts(report.class_names, report.class_counts)
        self.bars.setVisible(bool(report.class_names and report.class_counts))
        self.dry_run.setText("<br>".join(self._dry_run_html(run, report) for run in report.dry_runs))
        self.dry_run.setVisible(bool(report.dry_runs))
        self._fill_problems(report)

    @staticmethod
    def summary_lines(report) -> list[str]:
        lines = []
        splits = report.splits
        split_text = (f" (train {splits['train']:,}, validation {splits['val']:,}, test {splits['test']:,})"
                      if splits else "")
        lines.append(f"<b>{report.samples:,}</b> samples{split_text}")
        if report.files_seen and report.image_sizes is not None:
            lines.append(f"{report.files_seen:,} files scanned in {report.seconds:.2f} s, "
                         f"{len(report.skipped.files):,} skipped")
        if report.class_names is not None:
            lines.append(f"{len(report.class_names)} classes")
        for row in report.size_rows()[:4]:
            mode = {"L": "grey", "RGB": "RGB", "RGBA": "RGBA", "P": "palette"}.get(row["mode"], row["mode"])
            lines.append(f"{row['fraction']:.1%} {row['width']}×{row['height']} {mode} ({row['count']:,})")
        if report.missing is not None:
            missing = report.missing
            lines.append("No missing values" if not missing["cells"] else
                         f"{missing['cells']:,} missing value(s) in {missing['rows']:,} row(s)")
        return lines

    @staticmethod
    def _dry_run_html(run, report) -> str:
        if run.fits:
            word, colour = ("fits", GOOD) if not run.failing else ("fits (resized)", WARN)
        else:
            word, colour = "does not fit", BAD
        verdict = f"<span style='color:{colour}'>{word}</span>"
        block = run.failing or {"id": run.block_id, "name": run.block_name}
        href = html.escape(f"block:{run.network}:{block['id']}", quote=True)
        link = f"<a href='{href}'>{html.escape(block['name'], quote=False)}</a>"
        return (f"<b>Dry run</b> ({html.escape(run.network, quote=False)}): {verdict}, block {link}<br>"
                + ("(see the problems below)" if any(run.message in p.message for p in report.problems)
                   else f"<span>{breakable(run.message)}</span>"))

    def problem_lines(self, report) -> list[str]:
        """Each problem as HTML: the message (its block a link), then its files with their reasons."""
        reasons = {path: reason for path, _, reason in report.skipped.files}
        root = (report.path or "").rstrip("/") + "/"
        network = self.document.project.networks[0].name
        parts = []
        for problem in report.problems:
            colour = BAD if problem.severity == "error" else WARN
            text = breakable(problem.message)
            if problem.block is not None:
                href = html.escape(f"block:{problem.network or network}:{problem.block}", quote=True)
                text += f" <a href='{href}'>show block</a>"
            files = []
            for path in problem.files[:FILES_SHOWN]:
                if path == report.path:
                    continue
                shown = path[len(root):] if report.path and path.startswith(root) else path
                reason = reasons.get(path, "")
                own = f": {reason}" if reason and reason not in problem.message else ""
                files.append(breakable(shown + own))
            more = problem.count - min(len(problem.files), FILES_SHOWN)
            if files and more > 0:
                files.append(f"… and {more:,} more")
            listing = ("<ul style='margin-top:0; margin-bottom:0; -qt-list-indent:1'>"
                       + "".join(f"<li><small>{f}</small></li>" for f in files) + "</ul>") if files else ""
            parts.append(f"<p style='margin-top:6px; margin-bottom:0'><b style='color:{colour}'>"
                         f"{problem.severity}</b> {text}</p>{listing}")
        return parts

    def _fill_problems(self, report) -> None:
        self.problems.setText("".join(self.problem_lines(report)))
        self.problems.setVisible(bool(report.problems))

    # --- selecting the block ---
    def _link(self, href: str) -> None:
        kind, _, rest = href.partition(":")
        network, _, block_id = rest.rpartition(":")  # a network's name may hold ':'; block ids do not
        if kind == "block" and block_id:
            self.blockRequested.emit(network, block_id)

