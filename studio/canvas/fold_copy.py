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

# the last copy: its clipboard text, which blocks were folded, and how far the top-left of the cards
# shown (a fold's card is where its first block is) lies from the top-left of all the blocks
_copied: tuple[str, tuple[bool, ...], tuple[float, float]] | None = None


def folded_flags(scene, block_ids: list[str]) -> tuple[bool, ...]:
    """For each block in fragment order: whether a fold card hides it."""
    wanted = set(block_ids)
    return tuple(scene.fold_of(bid) is not None for bid in scene.net.blocks if bid in wanted)


def shown_corner_shift(scene, block_ids: list[str]) -> tuple[float, float]:
    """From the top-left of all these blocks to the top-left of the cards they show as. A paste puts
    the blocks' top-left at the cursor; the hidden members of a fold spread wider than its one card,
    which would land far from the cursor (off screen) without this shift."""
    wanted = set(block_ids)
    blocks = [b for bid, b in scene.net.blocks.items() if bid in wanted]
    shown = [b for b in blocks if scene.fold_of(b.id) is None or scene.fold_of(b.id).run.head == b.id]
    if not blocks or not shown:
        return (0.0, 0.0)
    return (min(b.position[0] for b in shown) - min(b.position[0] for b in blocks),
            min(b.position[1] for b in shown) - min(b.position[1] for b in blocks))


def paste_corner(text: str, at: tuple[float, float]) -> tuple[float, float]:
    """Where the pasted blocks' top-left goes so that the cards they show as start at `at`."""
    if _copied is None or _copied[0] != text:
        return at
    dx, dy = _copied[2]
    return (at[0] - dx, at[1] - dy)


def fold_like(scene, new_ids: list[str] | None, flags: tuple[bool, ...]) -> None:
    """Fold the runs of the new blocks whose originals were folded."""
    if new_ids and any(flags):
        scene.fold_runs_of([bid for bid, folded in zip(new_ids, flags) if folded])


def copy_blocks(scene, doc, network: str, block_ids: list[str], cut: bool = False) -> str:
    """Copy (or cut) the blocks, remembering which were folded for a later paste."""
    flags = folded_flags(scene, block_ids)  # before a cut removes them
    shift = shown_corner_shift(scene, block_ids)
    text = (doc.cut_blocks if cut else doc.copy_blocks)(network, block_ids)
    global _copied
    _copied = (text, flags, shift) if text else None
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
