"""Copy and paste of blocks: the clipboard text format and placing a pasted fragment.

Copied blocks travel as JSON text, so they paste between networks, between
windows and between DeepWire processes, and a person can read them:

    {"format": "deepwire-clipboard", "version": 1,
     "blocks": [...], "edges": [...], "groups": [...]}

Blocks, wires and groups use the project file's own dicts (graph.project_io),
and reading goes through the project loader, so a pasted fragment is checked
exactly like a file (unknown types, bad values, broken wires). Only wires and
groups entirely inside the copied blocks are kept. The text of a whole
project file pastes too (its first network).

On the system clipboard the text goes both as plain text and under
`MIME_TYPE`, so other DeepWire windows can tell it from ordinary text.
"""

from __future__ import annotations

import atexit
import copy
import json
from dataclasses import dataclass, replace

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

from graph.model import Block, Edge, Group, Network, Project
from graph.project_io import MAX_FILE_BYTES, ProjectFileError, project_from_dict, project_to_dict
from graph.project_migrate import CURRENT_VERSION
from graph.project_read import FORMAT as PROJECT_FORMAT
from graph.spec import Registry

MIME_TYPE = "application/x-deepwire-blocks"
FORMAT = "deepwire-clipboard"
VERSION = 1

Point = tuple[float, float]


class ClipboardError(ValueError):
    """The text cannot be pasted as blocks; str() is a sentence for the user."""


@dataclass
class Fragment:
    """Blocks with the wires and groups among them."""

    blocks: list[Block]
    edges: list[Edge]
    groups: list[Group]


# ---------------------------------------------------------------- copying


def fragment_of(network: Network, block_ids: list[str]) -> Fragment:
    """The chosen blocks (canvas order), the wires among them and the groups they fully contain."""
    wanted = set(block_ids)
    for bid in wanted:
        network.block(bid)  # ModelError for an unknown id
    blocks = [copy.deepcopy(b) for bid, b in network.blocks.items() if bid in wanted]
    edges = [e for e in network.edges if e.src in wanted and e.dst in wanted]
    groups = [copy.deepcopy(g) for g in network.groups if g.blocks and set(g.blocks) <= wanted]
    return Fragment(blocks, edges, groups)


def fragment_text(fragment: Fragment) -> str:
    """Clipboard text for a fragment, in the project file's block, wire and group format."""
    net = Network("clipboard", fragment.blocks, fragment.edges, fragment.groups)
    data = project_to_dict(Project("clipboard", [net]))["networks"][0]
    out = {"format": FORMAT, "version": VERSION, "blocks": data["blocks"], "edges": data["edges"]}
    if "groups" in data:
        out["groups"] = data["groups"]
    return json.dumps(out, indent=1, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- pasting

_NOT_BLOCKS = ("The clipboard holds no DeepWire blocks; select blocks and copy them "
               "(Ctrl+C) in DeepWire first.")


def parse_fragment(text: str, registry: Registry, definitions: list[dict] | None = None) -> Fragment:
    """The fragment in clipboard text (or the first network of a project file's text).

    definitions: the pasting project's block definitions (as its file holds them), so instances of
    them paste as what they are. Raises ClipboardError with a message for the user when the text is
    not DeepWire blocks or is damaged.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_FILE_BYTES:
        raise ClipboardError(_NOT_BLOCKS)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ClipboardError(_NOT_BLOCKS) from None
    if not isinstance(data, dict) or data.get("format") not in (FORMAT, PROJECT_FORMAT):
        raise ClipboardError(_NOT_BLOCKS)
    if data["format"] == FORMAT:
        if data.get("version") != VERSION:
            raise ClipboardError(f"These blocks were copied from a different DeepWire version "
                                 f"(clipboard format {data.get('version')!r}); copy them again here.")
        network = {"name": "clipboard", **{k: data[k] for k in ("blocks", "edges", "groups") if k in data}}
        data = {"format": PROJECT_FORMAT, "version": CURRENT_VERSION, "networks": [network]}
        if definitions:
            data["definitions"] = definitions
    try:
        project = project_from_dict(data, registry, "clipboard")
    except ProjectFileError as err:
        where = err.location.removeprefix("networks[0] 'clipboard' > ")
        raise ClipboardError(f"The copied blocks cannot be pasted: {where}: {err.message}") from None
    net = project.networks[0]
    return Fragment(list(net.blocks.values()), list(net.edges), list(net.groups))


def placed(fragment: Fragment, network: Network, offset: Point = (40.0, 40.0),
           at: Point | None = None) -> Fragment:
    """The fragment as it will enter `network`: fresh ids and names, wires and groups following.

    Positions move by `offset`, or so that the fragment's top-left lands on `at`.
    """
    if at is not None and fragment.blocks:
        left = min(b.position[0] for b in fragment.blocks)
        top = min(b.position[1] for b in fragment.blocks)
        offset = (at[0] - left, at[1] - top)
    taken_ids, taken_names = set(network.blocks), {b.name for b in network.blocks.values()}
    new_id: dict[str, str] = {}
    blocks = []
    for block in fragment.blocks:
        bid = _fresh_id(taken_ids, len(network.blocks) + len(blocks) + 1)
        name = _fresh_name(block.name, taken_names)
        taken_ids.add(bid)
        taken_names.add(name)
        new_id[block.id] = bid
        x, y = block.position
        blocks.append(replace(block, id=bid, name=name, params=copy.deepcopy(block.params),
                              position=(float(x + offset[0]), float(y + offset[1]))))
    # copies share a module among themselves when its holder was copied too; otherwise each is its own
    blocks = [replace(b, shares=new_id.get(old.shares)) if old.shares is not None else b
              for b, old in zip(blocks, fragment.blocks)]
    edges = [replace(e, src=new_id[e.src], dst=new_id[e.dst]) for e in fragment.edges
             if e.src in new_id and e.dst in new_id]
    group_ids = {g.id for g in network.groups}
    groups = []
    for group in fragment.groups:
        gid = _fresh_id(group_ids, len(group_ids) + 1, "g")
        group_ids.add(gid)
        groups.append(Group(gid, group.name, tuple(new_id[b] for b in group.blocks if b in new_id),
                            group.collapsed))
    return Fragment(blocks, edges, [g for g in groups if g.blocks])


def _fresh_id(taken: set[str], start: int, prefix: str = "b") -> str:
    n = start
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def _fresh_name(wanted: str, taken: set[str]) -> str:
    """`wanted` if free, else the next free number on its stem: conv2 -> conv3, relu -> relu2."""
    if wanted not in taken:
        return wanted
    stem = wanted.rstrip("0123456789") or wanted
    n = 2
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


# ---------------------------------------------------------------- the system clipboard


def put_on_clipboard(text: str) -> None:
    """Offer the text as DeepWire blocks and as plain text (for a text editor or a bug report)."""
    global _release_installed
    if QGuiApplication.instance() is None:  # headless use (scripts, a CLI): no system clipboard
        return
    mime = QMimeData()
    mime.setText(text)
    mime.setData(MIME_TYPE, text.encode("utf-8"))
    QGuiApplication.clipboard().setMimeData(mime)
    if not _release_installed:
        # Qt deletes the clipboard's data with the application; if that data was made in
        # Python, PySide6 crashes during exit. Hand over plain text before that happens.
        atexit.register(_release_clipboard)
        QGuiApplication.instance().aboutToQuit.connect(_release_clipboard)
        _release_installed = True


_release_installed = False


def _release_clipboard() -> None:
    """Replace our QMimeData on the clipboard by the same text in Qt's own (pasting still works)."""
    if QGuiApplication.instance() is None:
        return
    board = QGuiApplication.clipboard()
    mime = board.mimeData()
    if mime is not None and mime.hasFormat(MIME_TYPE):
        board.setText(mime.text())


def clipboard_text() -> str:
    """The clipboard's DeepWire blocks if it holds any, else its plain text ("" when empty)."""
    mime = QGuiApplication.clipboard().mimeData() if QGuiApplication.instance() is not None else None
    if mime is None:
        return ""
    if mime.hasFormat(MIME_TYPE):
        return bytes(mime.data(MIME_TYPE).data()).decode("utf-8", errors="replace")
    return mime.text()


def clipboard_has_blocks() -> bool:
    """Whether Paste has something to paste (cheap: for enabling the Paste action, not a full check)."""
    mime = QGuiApplication.clipboard().mimeData() if QGuiApplication.instance() is not None else None
    if mime is None:
        return False
    if mime.hasFormat(MIME_TYPE):
        return True
    head = mime.text()[:200]
    return f'"{FORMAT}"' in head or f'"{PROJECT_FORMAT}"' in head
