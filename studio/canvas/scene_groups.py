"""Groups on the canvas, as a mixin of NetworkScene: one GroupItem per model Group.

Expanded, a group is a rectangle fitted around its member cards (refitted
when they move). Collapsed, its members are hidden, wires to them attach to
the group's card (see NetworkScene._anchor), wires inside it are hidden, and
the card shows the worst problem among its members.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF

from graph.model import Group
from studio.canvas.group_item import GroupItem


class SceneGroups:
    def group_item_moved(self, item: GroupItem) -> None:
        """A collapsed group's card moved (drag or model): the wires of its members follow."""
        for bid in item.group.blocks:
            for edge in self._wires_of.get(bid, ()):
                self._place_wire(self.wires[edge])

    def _sync_groups(self) -> None:
        """Make the group items match the model's groups (few; redone on every group change)."""
        wanted = {g.id: g for g in self.net.groups}
        for gid in [g for g in self.groups if g not in wanted]:
            self.removeItem(self.groups.pop(gid))
        self._group_of = {bid: g.id for g in self.net.groups for bid in g.blocks if bid in self.blocks}
        for gid, group in wanted.items():
            item = self.groups.get(gid)
            if item is None:
                item = self.groups[gid] = GroupItem(group, self.theme)
                self.addItem(item)
            item.set_group(group)
            self._fit_group(item)
        hidden = {bid for g in self.net.groups if g.collapsed for bid in g.blocks}
        folded = getattr(self, "_fold_of", {})  # hidden by a fold (scene_folds.py) stays hidden
        for bid, item in self.blocks.items():
            item.setVisible(bid not in hidden and bid not in folded)
            if bid in hidden:
                item.setSelected(False)
        for head, fold in getattr(self, "folds", {}).items():
            fold.setVisible(head not in hidden)
        for wire in self.wires.values():
            self._place_wire(wire)
        self._group_severities()

    def _group_severities(self) -> None:
        """A collapsed group shows the worst problem among its hidden blocks."""
        for group in self.groups.values():
            severities = {self.blocks[b].status.severity for b in group.group.blocks if b in self.blocks}
            group.set_severity("error" if "error" in severities else
                               "warning" if "warning" in severities else None)

    def _fit_group(self, item: GroupItem) -> None:
        members = [self.blocks[b] for b in item.group.blocks if b in self.blocks]
        if not members:
            return
        if item.collapsed:
            x = min(self.net.blocks[m.block_id].position[0] for m in members)
            y = min(self.net.blocks[m.block_id].position[1] for m in members)
            item.fit(QRectF(x, y, 0, 0))
            return
        rect = QRectF(members[0].pos(), members[0].shape().boundingRect().size())
        for m in members[1:]:
            rect = rect.united(QRectF(m.pos(), m.shape().boundingRect().size()))
        item.fit(rect)

    def group_of(self, block_id: str) -> Group | None:
        gid = self._group_of.get(block_id)
        return next((g for g in self.net.groups if g.id == gid), None)
