"""Folded runs on the canvas, as a mixin of NetworkScene: one FoldItem per folded run (graph/folding.py).

A folded run's instance cards and the wires between them are hidden; wires
from outside attach to the fold's ports (NetworkScene._anchor). Which runs
are folded is view state (studio/canvas/fold_state.py), so nothing here goes
through the undo stack.

The runs are found again only after the structure changed (blocks or wires
came or went, a block was enabled or disabled, groups or definitions
changed), once per undo step, when the analysis of that step arrives: a
macro deleting a thousand blocks does not look for runs a thousand times.
Finding them is O(blocks), and only cards whose fold changed are touched.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF

from graph.folding import Run, find_runs, folded_runs
from graph.memory import block_weights
from studio.canvas.block_item import PAD, CardContent, CardStatus, apply_cache_mode
from studio.canvas.fold_item import FoldItem, count_text, fold_title
from studio.canvas.fold_state import fold_choices
from studio.canvas.heat import format_norm, level, worst
from studio.canvas.style import CARD_WIDTH

# model changes after which the runs may differ
FOLD_CHANGES = frozenset({"block_added", "block_removed", "edge_added", "edge_removed", "block_enabled",
                          "group_changed"})


class SceneFolds:
    def _init_folds(self) -> None:
        self.folds: dict[str, FoldItem] = {}  # first block id of a folded run -> its card
        self._fold_of: dict[str, str] = {}  # block id -> first block id of its folded run
        self.runs: list[Run] = []  # every foldable run, folded or not
        self._run_of: dict[str, Run] = {}
        self._folds_dirty = True
        self._fold_stamp: tuple | None = None  # the definitions the runs were found with
        self._fresh_folds: set[str] = set()  # folds made since the last analysis was drawn
        self._weights_seen: dict[tuple, int] = {}  # see _instance_weights; emptied with the definitions

    # --- queries ---
    def run_of(self, block_id: str) -> Run | None:
        """The foldable run a block is in (folded or not), if any."""
        return self._run_of.get(block_id)

    def fold_of(self, block_id: str) -> FoldItem | None:
        """The folded card that hides this block, if any."""
        return self.folds.get(self._fold_of.get(block_id, ""))

    def fold_members(self, block_id: str) -> list[str]:
        """The blocks a card stands for: a fold's instances, or the block alone."""
        fold = self.folds.get(block_id)
        return list(fold.run.blocks) if fold is not None else [block_id]

    # --- view-state edits (no undo step) ---
    def set_folded(self, block_id: str, folded: bool) -> None:
        """Fold or expand the run that `block_id` is in (nothing when it is in none)."""
        run = self._run_of.get(block_id)
        if run is None:
            return
        fold_choices(self.doc).set(self.net, run, folded)
        self._sync_folds(find=False)
        self._fold_statuses(set())  # only the new card needs its status

    def fold_runs_of(self, block_ids: list[str]) -> None:
        """Fold every run one of these blocks is in (pasted copies of a folded run, studio/canvas/
        fold_copy.py), finding the runs first: the paste's own refresh comes with the next analysis."""
        if self._folds_stale():
            self._sync_folds()
        runs = {run.head: run for run in (self._run_of.get(bid) for bid in block_ids) if run is not None}
        if not runs:
            return
        store = fold_choices(self.doc)
        for run in runs.values():
            store.set(self.net, run, True)
        self._sync_folds(find=False)
        self._fold_statuses(set())  # only the new cards need their status

    def toggle_fold(self, block_id: str) -> None:
        self.set_folded(block_id, block_id not in self._fold_of)

    # --- following the model ---
    def _folds_follow(self, kind: str) -> None:
        if kind in FOLD_CHANGES:
            self._folds_dirty = True

    def _folds_stale(self) -> bool:
        stamp = self.net.library.stamp() if self.net.library is not None else None
        if stamp != self._fold_stamp:
            self._fold_stamp = stamp
            self._folds_dirty = True
            self._weights_seen.clear()  # an edited body weighs differently
        return self._folds_dirty

    def _sync_folds(self, find: bool = True) -> None:
        """Make the fold cards match the runs and the choices; show or hide only the cards that changed."""
        if find:
            self._folds_dirty = False
            self.runs = find_runs(self.net)
            self._run_of = {bid: run for run in self.runs for bid in run.blocks}
        choices = fold_choices(self.doc).of(self.net, self.runs)
        wanted = {run.head: run for run in folded_runs(self.runs, choices)}
        touched: set[str] = set()
        selected: set[str] = set()
        for head, item in list(self.folds.items()):
            if wanted.get(head) != item.run:
                if item.isSelected():
                    selected.update(item.run.blocks)
                touched.update(item.run.blocks)
                item.setSelected(False)
                self.removeItem(item)
                del self.folds[head]
        for head, run in wanted.items():
            if head not in self.folds and all(bid in self.blocks for bid in run.blocks):
                self.folds[head] = self._add_fold(run)
                self._fresh_folds.add(head)
                touched.update(run.blocks)
        if not touched:
            return
        self._items_rect = None
        self._fold_of = {bid: head for head, item in self.folds.items() for bid in item.run.blocks}
        for bid in touched:
            item = self.blocks.get(bid)
            if item is None:
                continue
            shown = bid not in self._fold_of and not self._hidden_by_group(bid)
            if item.isSelected() and not shown:
                selected.add(bid)
                item.setSelected(False)
            item.setVisible(shown)
        for head, fold in self.folds.items():  # what was selected stays selected, folded or not
            if head in touched and selected.intersection(fold.run.blocks):
                fold.setSelected(True)
        for bid in selected - self._fold_of.keys():
            if bid in self.blocks:
                self.blocks[bid].setSelected(True)
        for bid in touched:
            for edge in self._wires_of.get(bid, ()):
                self._place_wire(self.wires[edge])
        for head in touched.intersection(self.folds):
            self._mark_fold_ports(self.folds[head])

    def _hidden_by_group(self, block_id: str) -> bool:
        group = self.groups.get(self._group_of.get(block_id, ""))
        return group is not None and group.collapsed

    def _add_fold(self, run: Run) -> FoldItem:
        item = FoldItem(run, self._fold_content(run), self.theme)
        apply_cache_mode(item, self.cache_mode)
        item.setPos(QPointF(*self.net.blocks[run.head].position))
        item.setVisible(not self._hidden_by_group(run.head))
        self._fold_gradient(item)
        item.setToolTip(f"{fold_title(run)}: {self.net.blocks[run.head].name} … "
                        f"{self.net.blocks[run.tail].name}, folded (the view only; the model is unchanged)")
        self.addItem(item)
        return item

    def _fold_content(self, run: Run, count: int | None = None, partial: bool = False) -> CardContent:
        head = self.blocks[run.head].content
        first, last = self.net.blocks[run.head].name, self.net.blocks[run.tail].name
        summary = count_text(count) + (" so far" if partial else "")
        names = f"{summary} · {first} … {last}"  # the names when they fit whole (the tooltip has them too)
        # frozen when every instance is (transfer learning): the card then looks like a frozen block's,
        # "frozen" written in the summary row (FoldItem._text_layout), so the names have no room
        frozen = all(self.net.blocks[bid].frozen for bid in run.blocks)
        if not frozen and self.theme.metrics("body").horizontalAdvance(names) <= CARD_WIDTH - 2 * PAD:
            summary = names
        return CardContent(fold_title(run), "", head.category, summary, head.inputs, True, frozen=frozen)

    def _fold_gradient(self, fold: FoldItem) -> None:
        """Colour a fold by its least healthy instance's gradient norm (heat.worst says why not a mean)."""
        norms = {bid: self.gradient_norms[bid] for bid in fold.run.blocks if bid in self.gradient_norms}
        at = worst(norms)
        fold.set_gradient(norms[at] if at is not None else None)
        if at is None:
            return
        values = sorted(norms.values(), key=lambda n: (n != n, n))  # NaN last
        fold.gradient.setToolTip(
            f"<b>gradient norm {format_norm(norms[at])}</b> ({level(norms[at])}) of "
            f"{self.net.blocks[at].name}, the least healthy of the {len(norms)} instances measured<br>"
            f"the instances range from {format_norm(values[0])} to {format_norm(values[-1])}; "
            f"expand the card to see each one.")

    def _mark_fold_ports(self, fold: FoldItem) -> None:
        run, theme = fold.run, self.theme
        wired = self.net.wires_into(run.head)
        for name, port in fold.inputs.items():
            port.set_flags(name in wired, port.problem, theme)
        if fold.output is not None:
            fold.output.set_flags(bool(self.net.edges_from(run.tail)), False, theme)

    def _fold_moved_in_model(self, block_id: str) -> None:
        fold = self.folds.get(block_id)
        if fold is not None:
            fold.setPos(QPointF(*self.net.blocks[block_id].position))
            self.fold_item_moved(fold)

    def fold_item_moved(self, fold: FoldItem) -> None:
        """A fold's card moved (drag or model): the wires into its first and out of its last block follow."""
        self._items_rect = None
        for bid in {fold.run.head, fold.run.tail}:
            for edge in self._wires_of.get(bid, ()):
                self._place_wire(self.wires[edge])

    def fold_moves(self, fold: FoldItem) -> dict:
        """Block id -> (old, new) position for every instance of a dragged fold (they keep their layout)."""
        x0, y0 = self.net.blocks[fold.run.head].position
        dx, dy = fold.pos().x() - x0, fold.pos().y() - y0
        if not (dx or dy):
            return {}
        moves = {}
        for bid in fold.run.blocks:
            old = self.net.blocks[bid].position
            moves[bid] = (old, (old[0] + dx, old[1] + dy))
        return moves

    # --- analysis -> fold cards ---
    def _fold_statuses(self, visited: set[str] | None) -> None:
        """Redraw the folds whose instances the analysis looked at (every fold when `visited` is None)."""
        if not self.folds:
            self._fresh_folds.clear()
            return
        analysis = None
        for head, fold in self.folds.items():
            if visited is not None and head not in self._fresh_folds \
                    and visited.isdisjoint(fold.run.blocks):
                continue
            if analysis is None:
                analysis = self.doc.analysis(self.net.name)
            self._fold_status(fold, analysis)
        self._fresh_folds.clear()

    def _instance_weights(self, bid: str, registry, inference) -> int:
        """block_weights of one instance, remembered by what decides it (settings and input shapes): the
        instances of a run are mostly alike, and counting one walks its definition's body."""
        block = self.net.blocks[bid]
        if block.shares is not None or self.net.ties:  # shared modules and tied tensors: the general rule
            return block_weights(self.net, registry, inference, bid)
        try:
            key = (block.type, tuple(sorted(inference.params.get(bid, {}).items())),
                   tuple(sorted(inference.inputs.get(bid, {}).items())), inference.shapes.get(bid))
            hash(key)
        except TypeError:  # a list-valued setting: count it afresh
            return block_weights(self.net, registry, inference, bid)
        count = self._weights_seen.get(key)
        if count is None:
            count = self._weights_seen[key] = block_weights(self.net, registry, inference, bid)
        return count

    def _fold_status(self, fold: FoldItem, analysis) -> None:
        run = fold.run
        members = [(bid, self.blocks[bid]) for bid in run.blocks if bid in self.blocks]
        registry = self.doc.registry
        count, partial = None, False
        if analysis is not None and analysis.network is self.net:
            inference = analysis.inference
            known = [bid for bid in run.blocks if inference.shapes.get(bid) is not None]
            partial = 0 < len(known) < len(run)  # as the summary strip says: what is known "so far"
            if known:
                count = sum(self._instance_weights(bid, registry, inference) for bid in known)
        if fold.set_content(self._fold_content(run, count, partial)):  # the first instance's ports changed
            apply_cache_mode(fold, self.cache_mode)
            self.fold_item_moved(fold)
            self._mark_fold_ports(fold)
        severities = {item.status.severity for _bid, item in members}
        lines, deploy = [], []
        for bid, item in members:
            name = self.net.blocks[bid].name
            # each line says which instance it is about (most messages name it already)
            lines += [_naming(line, name) for line in item.status.problem_text.splitlines() if line]
            deploy += [_naming(line, name) for line in item.status.deploy_text.splitlines() if line]
        head = self.blocks[run.head].status if run.head in self.blocks else CardStatus()
        tail = self.blocks[run.tail].status if run.tail in self.blocks else CardStatus()
        fold.set_status(CardStatus(
            shape=tail.shape,
            severity="error" if "error" in severities else "warning" if "warning" in severities else None,
            problem_text="\n".join(lines), fixes=(), bad_ports=head.bad_ports, deploy_text="\n".join(deploy)))


def _naming(line: str, name: str) -> str:
    return line if f"'{name}'" in line else f"{name}: {line}"
