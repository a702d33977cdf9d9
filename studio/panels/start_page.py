"""The start page (File > New from Template): bundled examples as cards, and recent files.

Each example card shows a thumbnail of its first network, its title and its
one-line description; activating a card opens the example as a new,
untitled project. Thumbnails come from the canvas's `render_thumbnail` and
are drawn when the page is first shown, not at start-up.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from graph.examples import Example, list_examples
from graph.model import Network
from graph.project_io import ProjectFileError, load_project
from graph.spec import Registry
from studio.canvas.style import DARK, LIGHT
from studio.canvas.thumbnail import render_thumbnail

THUMB = QSize(150, 96)
CARD = QSize(400, 112)
CARD_W, CARD_H = 180.0, 80.0  # a block card on the canvas, roughly (for folding only)
STEP_X, STEP_Y = 230.0, 130.0  # card pitch when a long chain is folded into rows
PATH_ROLE = Qt.ItemDataRole.UserRole
DESCRIPTION_ROLE = Qt.ItemDataRole.UserRole + 1


def thumbnail(network: Network, registry: Registry, theme, size: QSize = THUMB) -> QImage:
    """A picture of the whole network, centred on the canvas background.

    A long chain squeezed into a card would be a thin line of dots, so a
    network much wider than the card is drawn folded into rows (on a copy;
    the project is not touched), like text wrapped to a page.
    """
    blocks = sorted(network.blocks.values(), key=lambda b: (b.position[0], b.position[1]))
    part = network.copy()
    if blocks:
        width, height = _extent(part)
        aspect = size.width() / size.height()
        if width / height > 3 * aspect:
            per_row = min(range(1, len(blocks) + 1),
                          key=lambda k: abs(k * STEP_X / (-(-len(blocks) // k) * STEP_Y) - aspect))
            for i, block in enumerate(blocks):
                part.blocks[block.id].position = ((i % per_row) * STEP_X, (i // per_row) * STEP_Y)
            width, height = _extent(part)
        scale = min(size.width() / width, size.height() / height)
        inner = QSize(max(1, round(width * scale)), max(1, round(height * scale)))
    else:
        inner = size
    picture = render_thumbnail(part, inner, registry, theme)
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(theme.color("background"))
    painter = QPainter(image)
    painter.drawImage((size.width() - inner.width()) // 2, (size.height() - inner.height()) // 2, picture)
    painter.end()
    return image


def _extent(network: Network) -> tuple[float, float]:
    """Width and height the cards cover, roughly, with the thumbnail's margin."""
    xs = [b.position[0] for b in network.blocks.values()]
    ys = [b.position[1] for b in network.blocks.values()]
    return max(xs) - min(xs) + CARD_W + 60, max(ys) - min(ys) + CARD_H + 60


DESCRIPTION_LINES = 4


def wrapped_lines(metrics: QFontMetrics, text: str, width: int, max_lines: int) -> list[str]:
    """`text` broken into lines at most `width` wide; beyond `max_lines` the last one ends in "…"."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max_lines:
        line = words.pop(0)
        while words and metrics.horizontalAdvance(f"{line} {words[0]}") <= width:
            line += " " + words.pop(0)
        lines.append(line)
    if words:  # more than fits: say so on the last line
        rest = lines[-1] + " " + " ".join(words)
        lines[-1] = metrics.elidedText(rest, Qt.TextElideMode.ElideRight, width)
    # a line that fits stays as it is: elidedText may cut one exactly `width` wide (its own rounding)
    return [line if metrics.horizontalAdvance(line) <= width and not (words and i == len(lines) - 1)
            else metrics.elidedText(line, Qt.TextElideMode.ElideRight, width) for i, line in enumerate(lines)]


def _text_height(font: QFont, text: str, width: int, bold: bool = False) -> int:
    """Height of `text` word-wrapped to `width` pixels in `font`."""
    font = QFont(font)
    font.setBold(bold)
    flags = Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap
    return QFontMetrics(font).boundingRect(QRect(0, 0, width, 10_000), flags, text).height()


class _CardDelegate(QStyledItemDelegate):
    """Thumbnail on the left, title in bold and the description wrapped to its right.

    Every card is as tall as the longest title needs plus DESCRIPTION_LINES
    lines (`fit`): a title always shows whole, a longer description ends in
    "…" on its last line (the tooltip has all of it), never cut mid-line at
    the card's edge.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.size = QSize(CARD)

    def fit(self, font: QFont, texts: list[tuple[str, str]]) -> None:
        width = CARD.width() - 16 - THUMB.width() - 12
        title = max((_text_height(font, title, width, bold=True) for title, _text in texts), default=0)
        needed = title + 4 + DESCRIPTION_LINES * QFontMetrics(font).lineSpacing()
        self.size = QSize(CARD.width(), max(CARD.height(), needed + 16 + 2))

    def sizeHint(self, option, index) -> QSize:
        return self.size

    def paint(self, painter: QPainter, option, index) -> None:
        painter.save()
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        rect = option.rect.adjusted(8, 8, -8, -8)
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        thumb_rect = QRect(rect.left(), rect.top(), THUMB.width(), THUMB.height())
        if isinstance(icon, QPixmap):
            painter.drawPixmap(thumb_rect, icon)
        painter.setPen(QPen(option.palette.mid().color()))
        painter.drawRect(thumb_rect.adjusted(0, 0, -1, -1))
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_color = option.palette.highlightedText() if selected else option.palette.text()
        painter.setPen(text_color.color())
        text_rect = rect.adjusted(THUMB.width() + 12, 0, 0, 0)
        title_font = option.font
        title_font.setBold(True)
        painter.setFont(title_font)
        metrics = painter.fontMetrics()
        wrap = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
        title_rect = metrics.boundingRect(text_rect, wrap, index.data())  # a long title wraps, never cut
        painter.drawText(text_rect, wrap, index.data())
        title_font.setBold(False)
        painter.setFont(title_font)
        body = text_rect.adjusted(0, title_rect.height() + 4, 0, 0)
        metrics = painter.fontMetrics()
        lines = wrapped_lines(metrics, index.data(DESCRIPTION_ROLE) or "", body.width(),
                              max(1, body.height() // metrics.lineSpacing()))
        for i, line in enumerate(lines):
            painter.drawText(body.left(), body.top() + i * metrics.lineSpacing() + metrics.ascent(), line)
        painter.restore()


class StartPage(QWidget):
    exampleChosen = Signal(object)  # Path of a bundled example
    recentChosen = Signal(object)  # Path of a recent project file
    blankChosen = Signal()

    def __init__(self, registry: Registry, recent: list[Path] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.registry = registry
        self.examples: list[Example] = list_examples()
        self.cards = QListWidget()
        self.cards.setViewMode(QListWidget.ViewMode.IconMode)
        self.cards.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.cards.setMovement(QListWidget.Movement.Static)
        self.cards.setSpacing(4)
        self.cards.setUniformItemSizes(True)
        self.cards.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.delegate = _CardDelegate(self.cards)
        self.cards.setItemDelegate(self.delegate)
        self.cards.itemActivated.connect(lambda item: self.exampleChosen.emit(item.data(PATH_ROLE)))
        for example in self.examples:
            item = QListWidgetItem(example.title)
            item.setData(PATH_ROLE, example.path)
            item.setData(DESCRIPTION_ROLE, example.description)
            item.setToolTip(f"{example.description}\n({example.name})")
            self.cards.addItem(item)
        self.delegate.fit(self.cards.font(), [(e.title, e.description) for e in self.examples])
        self.recent = QListWidget()
        self.recent.itemActivated.connect(lambda item: self.recentChosen.emit(item.data(PATH_ROLE)))
        self.recent.setMaximumHeight(96)
        self.set_recent(recent or [])
        blank = QPushButton("Blank project")
        blank.clicked.connect(self.blankChosen)
        heading = QLabel("Start from an example")
        heading.setProperty("role", "heading")
        recent_heading = QLabel("Recent files")
        recent_heading.setProperty("role", "heading")
        row = QHBoxLayout()
        row.addWidget(heading, 1)
        row.addWidget(blank)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.cards, 1)
        layout.addWidget(recent_heading)
        layout.addWidget(self.recent)
        self._thumbnails_done = False

    def set_recent(self, paths: list[Path]) -> None:
        self.recent.clear()
        for path in paths:
            item = QListWidgetItem(f"{Path(path).name}   —   {Path(path).parent}")
            item.setData(PATH_ROLE, Path(path))
            item.setToolTip(str(path))
            self.recent.addItem(item)
        if not paths:
            placeholder = QListWidgetItem("(none yet: projects you save or open appear here)")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(placeholder)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.load_thumbnails()

    def load_thumbnails(self) -> None:
        if self._thumbnails_done:
            return
        self._thumbnails_done = True
        for row, example in enumerate(self.examples):
            try:
                network = load_project(example.path, self.registry).networks[0]
            except (ProjectFileError, OSError):
                continue  # the card still lists it; opening it will say what is wrong
            image = thumbnail(network, self.registry, self._theme())
            self.cards.item(row).setData(Qt.ItemDataRole.DecorationRole, QPixmap.fromImage(image))

    def _theme(self):
        return DARK if self.palette().window().color().lightness() < 128 else LIGHT

    def thumbnail(self, row: int) -> QPixmap | None:
        data = self.cards.item(row).data(Qt.ItemDataRole.DecorationRole)
        return data if isinstance(data, QPixmap) else None


class StartDialog(QDialog):
    """The start page in a dialog; `chosen` tells the caller what to open afterwards."""

    def __init__(self, registry: Registry, recent: list[Path], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New from Template")
        self.page = StartPage(registry, recent, self)
        self.chosen: tuple[str, Path | None] | None = None
        self.page.exampleChosen.connect(lambda p: self._choose("example", p))
        self.page.recentChosen.connect(lambda p: self._choose("recent", p))
        self.page.blankChosen.connect(lambda: self._choose("blank", None))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._open_current)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.page)
        layout.addWidget(buttons)
        self.resize(900, 640)

    def _choose(self, kind: str, path: Path | None) -> None:
        self.chosen = (kind, path)
        self.accept()

    def _open_current(self) -> None:
        item = self.page.cards.currentItem()
        if item is not None:
            self._choose("example", item.data(PATH_ROLE))
