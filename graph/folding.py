"""Folding: runs of consecutive instances of one block definition, which the canvas can show as one card.

A Transformer of 12 layers is 12 instance cards in a chain; folded, the canvas
shows one card "TransformerBlock ×12". This module finds the runs (pure, no Qt)
and decides which of them are folded from the view's choices; which runs are
folded is view state, never part of the model, its equality or its code.

A run is a maximal chain b1 → b2 → … → bk (k >= 2) of enabled instances of one
definition in which every wire into b(i+1) comes from b(i) and every wire out
of b(i) goes to b(i+1), so hiding the inner cards hides nothing a person could
wire to. Only definitions with exactly one output port fold (a card has one
output); several inputs are fine as long as the chain rule holds, and the
folded card then shows the first instance's inputs. A run never crosses the
edge of a model group (a collapsed group hides its members itself).

Finding the runs is one pass over the blocks and their wires: O(blocks + wires).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graph.definitions import output_ports
from graph.model import Network

# A network of more than FOLD_ABOVE blocks opens with every run of at least DEFAULT_MIN_RUN instances
# folded. About 16 cards (180 px wide, spaced 240 px in a row, 140 px between rows as Auto Layout places
# them) fill a 1600 x 1000 canvas at 100 % zoom; beyond that a person has to zoom out past reading size
# or pan to see the network, and folding the repeated layers gives the overview back. Smaller networks
# are shown as they are: folding what already fits on screen would only hide blocks. Runs of two stay
# open by default: one card instead of two saves little and hides the second block's name.
FOLD_ABOVE = 16
DEFAULT_MIN_RUN = 3


@dataclass(frozen=True)
class Run:
    """Consecutive instances of one definition, in chain order (`blocks[0]` feeds `blocks[1]`, …)."""

    definition: str
    blocks: tuple[str, ...]

    @property
    def head(self) -> str:
        return self.blocks[0]

    @property
    def tail(self) -> str:
        return self.blocks[-1]

    def __len__(self) -> int:
        return len(self.blocks)


def foldable_definitions(network: Network) -> set[str]:
    """Names of the definitions whose instances can fold: those with exactly one output port."""
    library = network.library
    if library is None or not len(library):
        return set()
    return {d.name for d in library if len(output_ports(d)) == 1}


def find_runs(network: Network) -> list[Run]:
    """Every foldable run of the network, ordered by its first block's place in the network."""
    foldable = foldable_definitions(network)
    if not foldable:
        return []
    blocks = network.blocks
    group_of = {bid: g.id for g in network.groups for bid in g.blocks}
    follower: dict[str, str] = {}  # b(i) -> b(i+1)
    for bid, block in blocks.items():
        if block.type not in foldable or not block.enabled:
            continue
        outs = network.edges_from(bid)
        if not outs:
            continue
        nxt = outs[0].dst
        if nxt == bid or any(e.dst != nxt for e in outs):
            continue
        other = blocks[nxt]
        if other.type != block.type or not other.enabled or group_of.get(bid) != group_of.get(nxt):
            continue
        if any(e.src != bid for e in network.wires_into(nxt).values()):
            continue
        follower[bid] = nxt
    followed = set(follower.values())
    runs = []
    for bid in blocks:
        if bid in follower and bid not in followed:  # a head; a pure cycle has none and never folds
            chain = [bid]
            while chain[-1] in follower:
                chain.append(follower[chain[-1]])
            runs.append(Run(blocks[bid].type, tuple(chain)))
    return runs


def is_folded(run: Run, choices: Mapping[str, bool]) -> bool:
    """A run is folded when the first of its blocks with a choice says so (none: not folded).

    Choices are kept per block, not per run, so a run that an edit splits keeps
    its state in both parts, and the run that an undo joins again is folded
    as it was."""
    for bid in run.blocks:
        choice = choices.get(bid)
        if choice is not None:
            return choice
    return False


def folded_runs(runs: Iterable[Run], choices: Mapping[str, bool]) -> list[Run]:
    return [run for run in runs if is_folded(run, choices)]


def default_choices(network: Network, runs: Iterable[Run], above: int = FOLD_ABOVE,
                    min_run: int = DEFAULT_MIN_RUN) -> dict[str, bool]:
    """The choices a network opens with when the view has none saved: its long runs folded when it is
    big (more than `above` blocks), else nothing folded."""
    if len(network.blocks) <= above:
        return {}
    return {bid: True for run in runs if len(run) >= min_run for bid in run.blocks}


def choose(choices: dict[str, bool], run: Run, folded: bool) -> None:
    """Record a person's fold or expand of one run (every block of it, see is_folded)."""
    for bid in run.blocks:
        choices[bid] = folded
