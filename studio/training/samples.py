"""What a generative run produces, live in the Training dock: sampled text, GAN grids, reconstructions.

The trainer emits a `samples` event after each epoch of a generative recipe
(runtime/train/events.py): a language model's sampled text, a GAN's grid
generated from fixed noise, an autoencoder's inputs over their
reconstructions. Events arrive as plain dicts (a PNG as {"base64": ...}).
The view keeps every epoch's sample; it follows the newest one unless the
user moved the slider back to an earlier epoch. It stays hidden for
recipes that sample nothing (classification, regression).
"""

from __future__ import annotations

import base64

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QSizePolicy, QSlider, QVBoxLayout, QWidget


def event_png(event: dict) -> bytes | None:
    """The PNG bytes of a samples event dict (base64 inside JSON), or None."""
    png = event.get("png")
    if isinstance(png, dict) and "base64" in png:
        try:
            return base64.b64decode(png["base64"])
        except (ValueError, TypeError):
            return None
    return png if isinstance(png, bytes) else None


class ImageLabel(QLabel):
    """A picture scaled to fit its box, keeping its aspect; small grids grow with sharp pixels."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(80, 80)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self._rescale()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self.image is None or self.image.isNull():
            self.clear()
            return
        size = self.contentsRect().size()
        self.setPixmap(QPixmap.fromImage(self.image.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)))


class SamplesView(QWidget):
    """Every epoch's sample of the current run, newest first shown; `add_event`, `clear`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.samples: list[dict] = []  # samples events in arrival order
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.title.setToolTip("What the network produced after that epoch (also saved in the run folder)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Earlier epochs' samples")
        self.slider.setRange(0, 0)
        self.slider.setVisible(False)
        self.slider.valueChanged.connect(self._show)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.image = ImageLabel()
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.slider)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.image, 1)
        self.clear()

    def clear(self) -> None:
        self.samples = []
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.blockSignals(False)
        self.slider.setVisible(False)
        self.title.setText("")
        self.text.clear()
        self.text.setVisible(False)
        self.image.set_image(None)
        self.image.setVisible(False)
        self.setVisible(False)

    def add_event(self, event: dict) -> None:
        if event.get("kind") != "samples" or (event.get("text") is None and event_png(event) is None):
            return
        following = not self.samples or self.slider.value() == len(self.samples) - 1
        self.samples.append(event)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.samples) - 1)
        self.slider.blockSignals(False)
        self.slider.setVisible(len(self.samples) > 1)
        self.setVisible(True)
        if following:
            self.slider.setValue(len(self.samples) - 1)
            self._show(len(self.samples) - 1)

    def shown(self) -> dict | None:
        """The samples event on screen now."""
        index = self.slider.value()
        return self.samples[index] if 0 <= index < len(self.samples) else None

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self.samples):
            return
        event = self.samples[index]
        title = event.get("title") or f"Samples, epoch {event.get('epoch', '?')}"
        self.title.setText(f"<b>{title}</b>" + (f" · {index + 1} of {len(self.samples)}"
                                                if len(self.samples) > 1 else ""))
        text, png = event.get("text"), event_png(event)
        self.text.setVisible(text is not None)
        if text is not None:
            self.text.setPlainText(text)
        image = QImage.fromData(png) if png is not None else None
        self.image.setVisible(image is not None and not image.isNull())
        self.image.set_image(image)
