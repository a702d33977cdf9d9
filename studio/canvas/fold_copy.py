"""Copies of a folded run come out folded: duplicate "ResidualBlock ×12" and get another "×12" card.

Which runs are folded is view state (studio/canvas/fold_state.py), so the
clipboard text, which is the model's format, cannot carry it. Instead, copy
and cut remember which of the copied blocks were folded, keyed by the text
they put on the clipboard; a paste of that same text folds the runs its
copies of those blocks form. Copies and pasted blocks line up one to one:
both are in the network's block order (studio.clipboard.fragment_of), and
placed() keeps that order. Text copied by another DeepWire process pastes
expanded, as before.
"""

from __future__ import annotations

_copied: tuple[str, tuple[bool, ...]] | None = None  # the last copy: (its clipboard text, folded flags)


def folded_flags(scene, block_ids: list[str]) -> tuple[bool, ...]:
    """For each block in fragment order: whether a fold card hides it."""
    wanted = set(block_ids)
    return tuple(scene.fold_of(bid) is not None for bid in scene.net.blocks if bid in wanted)


def fold_like(scene, new_ids: list[str] | None, flags: tuple[bool, ...]) -> None:
    """Fold the runs of the new blocks whose originals were folded."""
    if new_ids and any(flags):
        scene.fold_runs_of([bid for bid, folded in zip(new_ids, flags) if folded])


def copy_blocks(scene, doc, network: str, block_ids: list[str], cut: bool = False) -> str:
    """Copy (or cut) the blocks, remembering which were folded for a later paste."""
    flags = folded_flags(scene, block_ids)  # before a cut removes them
    text = (doc.cut_blocks if cut else doc.copy_blocks)(network, block_ids)
    global _copied
    _copied = (text, flags) if text else None
    return text


def duplicate_blocks(scene, doc, network: str, block_ids: list[str]) -> list[str]:
    """Duplicate the blocks; runs that were folded come out folded."""
    flags = folded_flags(scene, block_ids)
    new_ids = doc.duplicate_blocks(network, block_ids)
    fold_like(scene, new_ids, flags)
    return new_ids


def after_paste(scene, text: str, new_ids: list[str] | None) -> None:
    """Fold the pasted copies of folded runs, when `text` is what this process last copied."""
    if _copied is not None and _copied[0] == text:
        fold_like(scene, new_ids, _copied[1])
