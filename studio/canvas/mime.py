"""The drag-and-drop format of a block type, shared by the palette (source) and the canvas (target).

A palette drag carries a QMimeData with `BLOCK_MIME` whose payload is the
block type id in UTF-8, e.g. b"Conv2d". Dropping it on the canvas adds
that block at the drop point.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData

BLOCK_MIME = "application/x-deepwire-block"


def block_mime(type_id: str) -> QMimeData:
    """The QMimeData a palette drag should carry for `type_id`."""
    data = QMimeData()
    data.setData(BLOCK_MIME, type_id.encode("utf-8"))
    data.setText(type_id)
    return data


def block_type_of(data: QMimeData | None) -> str | None:
    """The type id in a drop, or None when it carries no block."""
    if data is None or not data.hasFormat(BLOCK_MIME):
        return None
    raw = bytes(data.data(BLOCK_MIME)).decode("utf-8", "replace").strip()
    return raw or None


LIBRARY_PREFIX = "library:"  # a palette "My blocks" entry: the library name follows (not a type id yet)


def library_payload(name: str) -> str:
    return LIBRARY_PREFIX + name


def library_name_of(type_id: str) -> str | None:
    """The library entry a drop names ("library:BasicBlock" -> "BasicBlock"), or None for a block type."""
    return type_id[len(LIBRARY_PREFIX):] or None if type_id.startswith(LIBRARY_PREFIX) else None
