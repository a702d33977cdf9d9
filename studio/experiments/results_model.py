"""The sweep's trials as a sortable table: one row per trial, one column per swept setting.

`TrialsModel` holds plain rows (the `trial_finished` events of
runtime/sweep); `sorted_view` wraps it in a QSortFilterProxyModel that sorts
numbers as numbers (the raw value sits under SORT_ROLE).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from runtime.sweep.results import format_params

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
FIXED = ("trial", "state", "objective", "epochs", "time")
STATE_COLOURS = {"COMPLETE": "#2e8b57", "PRUNED": "#b8860b", "FAIL": "#c0392b", "RUNNING": "#2f6fdb"}


def short_name(target: str, names: dict[str, str] | None = None) -> str:
    """'block:b10.p' -> 'dropout.p' (the block's name when known); 'training.lr' -> 'lr'."""
    if target.startswith("training."):
        return target[len("training."):]
    ref, _, param = target[len("block:"):].rpartition(".")
    ref = ref.rpartition("/")[2]
    return f"{(names or {}).get(ref, ref)}.{param}"


class TrialsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self.params: list[str] = []  # the swept settings' targets, in space order
        self.metric = "accuracy"
        self.best: int | None = None
        self.names: dict[str, str] = {}  # block id -> name, for readable headers

    def reset(self, params: list[str], metric: str, names: dict[str, str]) -> None:
        self.beginResetModel()
        self.rows, self.params, self.metric, self.best, self.names = [], list(params), metric, None, names
        self.endResetModel()

    def upsert(self, row: dict[str, Any]) -> None:
        """Add a trial, or update it (RUNNING -> its final state)."""
        for i, existing in enumerate(self.rows):
            if existing["trial"] == row["trial"]:
                self.rows[i] = {**existing, **row}
                self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))
                return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append(dict(row))
        self.endInsertRows()

    def set_best(self, trial: int | None) -> None:
        self.best = trial
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, self.columnCount() - 1))

    # --- Qt model ---
    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(FIXED) + len(self.params)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        if section < len(FIXED):
            return self.metric if FIXED[section] == "objective" else FIXED[section]
        return short_name(self.params[section - len(FIXED)], self.names)

    def _raw(self, row: dict[str, Any], column: int) -> Any:
        if column >= len(FIXED):
            return row.get("params", {}).get(self.params[column - len(FIXED)])
        key = FIXED[column]
        return {"objective": row.get("value"), "time": row.get("seconds")}.get(key, row.get(key))

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        raw = self._raw(row, column)
        if role == SORT_ROLE:
            if raw is None:
                return -1e300  # no value (a failed trial): below every number, so it sorts as a number
            if isinstance(raw, bool):
                return str(raw)
            return float(raw) if isinstance(raw, (int, float)) else str(raw)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column, raw)
        if role == Qt.ItemDataRole.ToolTipRole:
            message = row.get("message") or ""
            return f"{format_params(row.get('params', {}))}\n{message}".strip()
        if role == Qt.ItemDataRole.ForegroundRole and FIXED[min(column, len(FIXED) - 1)] == "state" \
                and column == 1:
            return QColor(STATE_COLOURS.get(row.get("state"), "#777777"))
        if role == Qt.ItemDataRole.FontRole and row["trial"] == self.best:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column != 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, row: dict[str, Any], column: int, raw: Any) -> str:
        if raw is None:
            return "–"
        key = FIXED[column] if column < len(FIXED) else "param"
        if key == "state":
            state = "stopped" if row.get("interrupted") else raw.lower()
            return state + (" (baseline)" if row.get("baseline") else "")
        if key == "objective":
            return f"{100 * raw:.2f}%" if "accuracy" in self.metric else f"{raw:.4f}"
        if key == "time":
            return f"{raw:.1f} s"
        if isinstance(raw, float):
            return f"{raw:.3g}"
        return str(raw)


def sorted_view(model: TrialsModel) -> QSortFilterProxyModel:
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    return proxy
