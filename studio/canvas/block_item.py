"""The card that stands for one block on the canvas.

Layout, top to bottom: a thin band in the category colour; the block's name
(bold) with its type title on the right (or, when both do not fit on one
line, at the bottom left, so neither is cut off); its key parameters; and a
pill with its output shape ("32×14×14"). Inputs are ports on the left edge (named, one
row each, when a block has several), the output a port on the right edge.

A disabled block is greyed with a dashed outline. A frozen block (transfer
learning: its weights are not trained) has a blue outline, a padlock in its
header, a blue diagonal hatching over its body and "frozen" at the bottom. Problems draw a red
(error) or amber (warning) outline and a "!" badge whose tooltip and menu
carry the messages; a problem with an obvious repair adds a one-click
"fix" chip under the card.

The card paints itself in Python once and Qt keeps the result
(DeviceCoordinateCache), so panning costs a bitmap copy; below zoom 0.5 the
text becomes grey bars (level of detail), which is both faster and calmer.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from graph.diagnostics import Fix
from studio.canvas.badges import sync_badges
from studio.canvas.port_item import PortItem
from studio.canvas.style import BAND, CARD_WIDTH, CORNER, ROW, TEXT_LOD, Theme

PAD = 9.0  # inner left/right margin of the text


class CardContent(NamedTuple):
    """What a card shows from the model; a new value is drawn only when it differs."""

    name: str
    title: str
    category: str
    summary: str
    inputs: tuple[str, ...]
    has_output: bool
    enabled: bool = True
    frozen: bool = False


class CardStatus(NamedTuple):
    """What a card shows from the analysis: shape, worst problem, messages, quick fixes.

    NamedTuples, not dataclasses: a re-analysis may make a thousand of them.
    """

    shape: str = "?"
    severity: str | None = None  # None, "warning" or "error"
    problem_text: str = ""
    fixes: tuple[Fix, ...] = ()
    bad_ports: frozenset[str] = frozenset()
    deploy_text: str = ""  # the deploy lint's messages: a chosen target cannot take this block


def apply_cache_mode(item: QGraphicsItem, mode: str) -> None:
    """device: cached at screen resolution; item / item_small: cached once at 1x / 0.5x of the
    card's size, and scaled by the view (while a zoom gesture runs)."""
    if mode == "device":
        item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        return
    rect = item.boundingRect()
    scale = 1.0 if mode == "item" else 0.5
    item.setCacheMode(QGraphicsItem.CacheMode.ItemCoordinateCache,
                      QSize(round(rect.width() * scale), round(rect.height() * scale)))


def card_height(inputs: int) -> float:
    rows = 3 + (inputs if inputs > 1 else 0)
    return BAND + 6 + ROW * rows + 5


# made once: an enum "|" costs a Python call, 10,000 of them when a big network opens
_CARD_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | QGraphicsItem.GraphicsItemFlag.ItemIsMovable


class BlockItem(QGraphicsItem):
    """One block card; the scene keeps them in a dict by block id."""

    def __init__(self, block_id: str, content: CardContent, theme: Theme):
        super().__init__()
        self.block_id = block_id
        self.content = content
        self.status = CardStatus()
        self.theme = theme
        self.inputs: dict[str, PortItem] = {}
        self.output: PortItem | None = None
        self.badge = None  # BadgeItem while the block has a problem
        self.deploy_badge = None  # DeployBadgeItem while a chosen deploy target cannot take it
        self.fix_chip = None  # FixChipItem while a problem has a quick fix
        self.gradient = None  # heat.GradientOverlay while training shows gradient flow
        self._height = card_height(len(content.inputs))
        # no ItemSendsGeometryChanges and no itemChange override: Python calls on every
        # property change would slow building a big scene; the scene follows drags itself
        self.setFlags(_CARD_FLAGS)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self._hover = False
        self._layout: list[tuple] | None = None  # text lines, made on the first paint after a change
        self._build_ports()

    # --- geometry ---
    @property
    def height(self) -> float:
        return self._height

    def boundingRect(self) -> QRectF:
        # a little margin for the selection halo and the outline
        return QRectF(-4, -4, CARD_WIDTH + 8, self._height + 8)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, CARD_WIDTH, self._height), CORNER, CORNER)
        return path

    def input_y(self, index: int) -> float:
        if len(self.content.inputs) <= 1:
            return self._height / 2
        return BAND + 6 + ROW * (2 + index) + ROW / 2

    def _build_ports(self) -> None:
        scene = self.scene()
        for port in list(self.inputs.values()) + ([self.output] if self.output else []):
            if scene is not None:
                scene.removeItem(port)
            port.setParentItem(None)
        self.inputs = {}
        for i, name in enumerate(self.content.inputs):
            port = PortItem(self.block_id, name, False, self)
            port.setPos(0, self.input_y(i))
            port.apply_theme(self.theme)
            self.inputs[name] = port
        self.output = None
        if self.content.has_output:
            self.output = PortItem(self.block_id, "out", True, self)
            self.output.setPos(CARD_WIDTH, self._height / 2)
            self.output.apply_theme(self.theme)

    def ports(self) -> list[PortItem]:
        return list(self.inputs.values()) + ([self.output] if self.output else [])

    def input_anchor(self, port: str) -> QPointF:
        """Scene point where a wire into `port` ends (the left edge when the port is gone)."""
        item = self.inputs.get(port)
        return item.scenePos() if item is not None else self.mapToScene(QPointF(0, self._height / 2))

    def output_anchor(self) -> QPointF:
        return self.mapToScene(QPointF(CARD_WIDTH, self._height / 2))

    # --- model -> card ---
    def set_content(self, content: CardContent) -> bool:
        """Show new model data; returns whether the ports changed (wires must re-attach)."""
        if content == self.content:
            return False
        ports_changed = (content.inputs, content.has_output) != (self.content.inputs, self.content.has_output)
        if ports_changed:
            self.prepareGeometryChange()
            self.content = content
            self._height = card_height(len(content.inputs))
            self._build_ports()
            self._place_children()
        self.content = content
        self._layout = None
        self.update()
        return ports_changed

    def set_status(self, status: CardStatus) -> bool:
        if status == self.status:
            return False
        old, self.status = self.status, status
        self._layout = None
        if status.bad_ports != old.bad_ports:
            for name, port in self.inputs.items():
                port.set_flags(port.connected, name in status.bad_ports, self.theme)
        if status[1:] != old[1:]:  # more than the shape changed
            sync_badges(self)
        self.update()
        return True

    def set_gradient(self, norm: float | None) -> None:
        """Colour the card by its gradient norm (None: no colour; see studio/canvas/heat.py)."""
        from studio.canvas.heat import GradientOverlay

        if norm is None:
            if self.gradient is not None:
                self.gradient.setParentItem(None)
                if self.gradient.scene() is not None:
                    self.gradient.scene().removeItem(self.gradient)
                self.gradient = None
            return
        if self.gradient is None:
            self.gradient = GradientOverlay(self, self._height)
        self.gradient.set_norm(norm, self._height)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._layout = None
        for port in self.ports():
            port.apply_theme(theme)
        for child in (self.badge, self.fix_chip, self.deploy_badge):
            if child is not None:
                child.update()
        self.update()

    def _place_children(self) -> None:
        if self.badge is not None:
            self.badge.setPos(CARD_WIDTH - 2, 1)
        if self.fix_chip is not None:
            self.fix_chip.setPos(8, self._height + 5)

    # --- interaction hooks ---
    def hoverEnterEvent(self, event):
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event):
        self._hover = False
        self.update()

    # --- painting ---
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        t, c, s = self.theme, self.content, self.status
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        scene = self.scene()
        text = lod >= TEXT_LOD * 0.4 and (scene is None or scene.text_visible)
        rect = QRectF(0, 0, CARD_WIDTH, self._height)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)  # painted once into the cache
        band = t.category(c.category) if c.enabled else t.color("disabled")

        if self.isSelected():
            painter.setPen(QPen(t.color("selection"), 3.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(-2, -2, 2, 2), CORNER + 2, CORNER + 2)

        border = t.color("card_border")
        width = 1.0
        if s.severity == "error":
            border, width = t.color("error"), 2.0
        elif s.severity == "warning":
            border, width = t.color("warning"), 2.0
        elif self._hover:
            border = t.color("wire_hover")
        elif c.frozen:
            border, width = t.color("frozen"), 1.5
        pen = QPen(border, width)
        if not c.enabled:
            pen.setStyle(Qt.PenStyle.DashLine)
        fill = t.color("card")
        if not c.enabled:
            fill = t.color("background")
        painter.setPen(pen)
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(rect, CORNER, CORNER)
        if c.frozen:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(t.color("frozen_hatch"), Qt.BrushStyle.BDiagPattern))
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), CORNER - 1, CORNER - 1)

        if lod * BAND >= 2.0:
            painter.fillPath(_band_path(), band)
        else:  # far out the band would be a hairline: keep it two screen pixels tall
            painter.fillRect(QRectF(0, 0, CARD_WIDTH, 2.0 / lod), band)

        if not text:  # zoomed out (the scene says so) or painted tiny (a minimap)
            self._paint_far(painter, lod)
            return
        self._paint_text(painter)

    def _paint_far(self, painter: QPainter, lod: float) -> None:
        """Zoomed out: the block's name alone, FAR_NAME_PX screen pixels tall where the card has room
        (smaller, down to FAR_MIN_PX, to fit it), so a big network stays readable; further out, grey
        bars."""
        lod = max(lod, 1e-6)
        inner = CARD_WIDTH - 2 * PAD
        pixels = min(FAR_NAME_PX, self._height * 0.5 * lod)  # on screen
        if not self.content.name or pixels < FAR_MIN_PX:
            self._paint_greek(painter)
            return
        wide = QFontMetricsF(_far_font(round(pixels / lod))).horizontalAdvance(self.content.name)
        if wide > inner:  # a long name: smaller letters first, then an ellipsis
            pixels = max(FAR_MIN_PX, 0.95 * pixels * inner / wide)  # (fonts come in whole sizes)
        font = _far_font(round(pixels / lod))
        painter.setFont(font)
        painter.setPen(self.theme.color("text" if self.content.enabled else "disabled"))
        name = QFontMetricsF(font).elidedText(self.content.name, Qt.TextElideMode.ElideRight, inner)
        painter.drawText(QRectF(PAD, BAND, inner, self._height - BAND), Qt.AlignmentFlag.AlignCenter, name)

    def _paint_greek(self, painter: QPainter) -> None:
        """Grey bars where the text would be: the card still reads as a card, cheaply."""
        t = self.theme
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.color("greek"))
        y = BAND + 8
        painter.drawRoundedRect(QRectF(PAD, y, CARD_WIDTH * 0.55, 8), 3, 3)
        painter.drawRoundedRect(QRectF(PAD, y + ROW, CARD_WIDTH * 0.4, 6), 3, 3)
        painter.drawRoundedRect(QRectF(CARD_WIDTH - PAD - 56, self._height - ROW - 2, 56, 10), 4, 4)

    def _text_layout(self) -> list[tuple]:
        """(rect, alignment, font role, colour role, text) of every line, worked out once per change."""
        if self._layout is not None:
            return self._layout
        t, c, s = self.theme, self.content, self.status
        text_role = "text" if c.enabled else "disabled"
        muted = "muted" if c.enabled else "disabled"
        inner = CARD_WIDTH - 2 * PAD - (LOCK + 4 if c.frozen else 0)  # room for the padlock on the right
        y = BAND + 5
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        title, small, body = t.metrics("title"), t.metrics("small"), t.metrics("body")
        bottom = self._height - ROW - 3
        label = s.shape if c.has_output else f"in {s.shape}"
        label = body.elidedText(label, Qt.TextElideMode.ElideMiddle, CARD_WIDTH - 2 * PAD - 60)
        width = body.horizontalAdvance(label) + 12
        pill = QRectF(CARD_WIDTH - PAD - width + 2, bottom + 1, width, ROW - 2)
        lines = []
        both = title.horizontalAdvance(c.name) + 8 + small.horizontalAdvance(c.title) <= inner
        beside_pill = pill.left() - PAD - 6
        if both or not c.enabled or c.frozen or small.horizontalAdvance(c.title) > beside_pill:
            # name and type title share the header: the name gets what it needs (up to 60 %)
            name_width = min(title.horizontalAdvance(c.name), inner * 0.6)
            type_text = small.elidedText(c.title, Qt.TextElideMode.ElideRight, inner - name_width - 8)
            name = elide_name(title, c.name, inner - small.horizontalAdvance(type_text) - 8)
            lines.append((QRectF(PAD, y, inner, ROW), right, "small", muted, type_text))
        else:  # too long for one line: the name has the header, the type title the bottom row
            name = elide_name(title, c.name, inner)
            lines.append((QRectF(PAD, bottom, beside_pill, ROW), left, "small", muted, c.title))
        lines.append((QRectF(PAD, y, inner, ROW), left, "title", text_role, name))
        if c.summary:
            lines.append((QRectF(PAD, y + ROW, inner, ROW), left, "body", muted,
                          body.elidedText(c.summary, Qt.TextElideMode.ElideRight, inner)))
        if len(c.inputs) > 1:
            for i, port in enumerate(c.inputs):
                lines.append((QRectF(PAD, self.input_y(i) - ROW / 2, inner, ROW), left, "body",
                              "error" if port in s.bad_ports else muted, port))
        if not c.enabled:
            lines.append((QRectF(PAD, bottom, 80, ROW), left, "body", muted, "disabled"))
        elif c.frozen:
            lines.append((QRectF(PAD, bottom, 80, ROW), left, "title", "frozen", "frozen"))
        shape_role = muted if s.shape == "?" else text_role
        lines.append((pill, Qt.AlignmentFlag.AlignCenter, "body", shape_role, label))
        self._layout = lines
        return lines

    def _paint_text(self, painter: QPainter) -> None:
        t = self.theme
        lines = self._text_layout()
        if self.content.frozen:
            corner = QPointF(CARD_WIDTH - PAD - LOCK, BAND + 5 + (ROW - LOCK) / 2)
            paint_lock(painter, corner, t.color("frozen"))
        pill = lines[-1][0]
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.color("shape_fill"))
        painter.drawRoundedRect(pill, 5, 5)
        font = None
        for rect, align, role, color, text in lines:
            if role != font:
                painter.setFont(t.font(role))
                font = role
            painter.setPen(t.color(color))
            painter.drawText(rect, align, text)


LOCK = 11.0  # size of the padlock drawn in a frozen block's header
FAR_NAME_PX = 11.0  # screen height of a zoomed-out card's name
FAR_MIN_PX = 7.0  # below this a name is not worth drawing: grey bars instead


_FAR_FONTS: dict[int, QFont] = {}


def _far_font(pixels: int) -> QFont:
    """A bold font `pixels` card units tall (made once per size: QFont construction is not free)."""
    font = _FAR_FONTS.get(pixels)
    if font is None:
        font = _FAR_FONTS[pixels] = QFont()
        font.setPixelSize(max(pixels, 1))
        font.setWeight(QFont.Weight.DemiBold)
    return font


def elide_name(metrics: QFontMetricsF, name: str, width: float) -> str:
    """A card's name cut to `width` at the right, except that a folded card's count (" ×12") is kept
    whole: "TransformerL… ×12", never "TransformerLayer ×…"."""
    head, times, count = name.rpartition(" ×")
    if not times or not count.isdigit() or metrics.horizontalAdvance(name) <= width:
        return metrics.elidedText(name, Qt.TextElideMode.ElideRight, width)
    tail = times + count
    room = width - metrics.horizontalAdvance(tail)
    return metrics.elidedText(head, Qt.TextElideMode.ElideRight, room) + tail


def paint_lock(painter: QPainter, top_left: QPointF, color) -> None:
    """A small padlock (shackle and body) whose box is LOCK x LOCK from `top_left`."""
    x, y = top_left.x(), top_left.y()
    painter.save()
    painter.setPen(QPen(color, 1.6))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRectF(x + 2.5, y, LOCK - 5, 8), 0, 180 * 16)  # the shackle's round top
    painter.drawLine(QPointF(x + 2.5, y + 4), QPointF(x + 2.5, y + 5.5))
    painter.drawLine(QPointF(x + LOCK - 2.5, y + 4), QPointF(x + LOCK - 2.5, y + 5.5))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(QRectF(x, y + 5, LOCK, LOCK - 5), 1.5, 1.5)
    painter.restore()


_BAND: list[QPainterPath] = []


def _band_path() -> QPainterPath:
    """The category band: the top of a rounded card (the same for every card)."""
    if not _BAND:
        card = QPainterPath()
        card.addRoundedRect(QRectF(0, 0, CARD_WIDTH, 4 * CORNER), CORNER, CORNER)
        top = QPainterPath()
        top.addRect(QRectF(0, 0, CARD_WIDTH, BAND))
        _BAND.append(card.intersected(top))
    return _BAND[0]
