"""Transfer-learning actions on the canvas: freeze or unfreeze blocks, start them from a checkpoint.

Each action is one undo step through the Document. Freezing toggles as a
whole: if any chosen block still learns, the action freezes them all,
otherwise it unfreezes them all (like Enable/Disable). "Initialise from
checkpoint…" asks for a run's best.pt (or any state_dict file), sets the
training settings `init_checkpoint` and `init_blocks` to the chosen blocks,
named as the user knows them (block names; a name with a comma by id), and
freezes them, so the canvas shows what will stay fixed.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from studio.document import Document


def with_weights(doc: Document, network: str, block_ids: list[str]) -> list[str]:
    """The blocks among these that have weights (a ReLU or pooling has nothing to freeze); all of them
    when none has, or while a block's shapes are unknown."""
    net, registry = doc.network(network), doc.registry
    inference = doc.analysis(network).inference
    kept = []
    for bid in block_ids:
        block, out = net.block(bid), inference.shapes.get(bid)
        if block.type not in registry or out is None:
            kept.append(bid)
            continue
        spec = registry.get(block.type)
        try:
            count = spec.count(inference.params.get(bid, spec.defaults()), inference.inputs.get(bid, {}), out)
        except Exception:  # a count rule failing must not stop a freeze
            count = 1
        if count:
            kept.append(bid)
    return kept or list(block_ids)


def freeze_target(doc: Document, network: str, block_ids: list[str]) -> bool:
    """What the toggle does to these blocks: True freezes, False unfreezes."""
    net = doc.network(network)
    return not all(net.block(b).frozen for b in block_ids)


def toggle_frozen(doc: Document, network: str, block_ids: list[str]) -> None:
    block_ids = with_weights(doc, network, block_ids) if block_ids else []
    if block_ids:
        doc.set_frozen(network, block_ids, freeze_target(doc, network, block_ids))


def block_refs(doc: Document, network: str, block_ids: list[str]) -> list[str]:
    """How init_blocks names the blocks: their names, or ids where a name would not survive the commas."""
    net = doc.network(network)
    names = [b.name for b in net.blocks.values()]
    refs = []
    for bid in block_ids:
        name = net.block(bid).name
        refs.append(name if "," not in name and names.count(name) == 1 else bid)
    return refs


def ask_checkpoint(parent: QWidget | None, doc: Document) -> str | None:
    """A file dialog for a run's checkpoint (or a state_dict file); None when cancelled."""
    start = doc.path.parent / "runs" if doc.path is not None else Path.cwd() / "runs"
    path, _ = QFileDialog.getOpenFileName(
        parent, "Initialise from checkpoint", str(start if start.is_dir() else start.parent),
        "Weights (*.pt *.pth *.bin);;All files (*)")
    return path or None


def init_from_checkpoint(doc: Document, network: str, block_ids: list[str], parent: QWidget | None = None,
                         path: str | None = None, refs: list[str] | None = None) -> bool:
    """Set init_checkpoint and init_blocks for these blocks (all blocks when none) and freeze them, as
    one undo step (Unfreeze lets them fine-tune); False if cancelled.

    refs: how init_blocks names them, when not block by block (a group by its name)."""
    path = path or ask_checkpoint(parent, doc)
    if not path:
        return False
    net = doc.network(network)
    freeze = [b for b in with_weights(doc, network, block_ids) if not net.block(b).frozen]
    doc.init_from_checkpoint(path, refs if refs is not None else block_refs(doc, network, block_ids),
                             network, freeze)
    return True
