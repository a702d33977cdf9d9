"""One editor widget per parameter kind, built from the `Param` declaration.

Every editor emits `committed(value)` with a value `Param.check` accepted,
or `refused(reason)` with Param.check's message when the typed value is not
allowed; it never touches the model (the inspector turns a commit into
`Document.set_param`). `set_value` shows a model value without emitting.

int: a spin box bounded by the declaration (typing past a bound is refused
with the reason); int with specials (padding "same"): an editable drop-down;
float: a spin box that also reads 1e-5; bool: a check box; choice: a
drop-down; tuple: "2, 2" in a line edit; str: a line edit.
"""

from __future__ import annotations

import math
import re
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLineEdit, QSpinBox, QWidget

from graph.params import Param, ParamError

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int


def _reason(param: Param, value: Any) -> str:
    try:
        param.check(value)
    except ParamError as err:
        return str(err)
    return ""


class _BoundedSpin(QSpinBox):
    """A QSpinBox that keeps a typed out-of-bounds number visible so it can be refused with a reason.

    Its range is wide on purpose: QSpinBox would otherwise swallow the key
    silently. The arrows still stop at the declared bounds.
    """

    liveReason = Signal(str)

    def __init__(self, param: Param):
        super().__init__()
        self.param = param
        self.setRange(-INT_LIMIT, INT_LIMIT)

    def stepBy(self, steps: int) -> None:
        lo = -INT_LIMIT if self.param.minimum is None else int(math.ceil(self.param.minimum))
        hi = INT_LIMIT if self.param.maximum is None else int(self.param.maximum)
        self.setValue(max(lo, min(hi, self.value() + steps)))

    def validate(self, text: str, pos: int):
        result = super().validate(text, pos)
        try:
            self.liveReason.emit(_reason(self.param, int(text.strip())))
        except ValueError:
            pass
        return result


class _FloatSpin(QDoubleSpinBox):
    """A QDoubleSpinBox showing and reading numbers the way Python writes them (0.001, 1e-05).

    Wide range for the same reason as _BoundedSpin; the arrows stop at the bounds.
    """

    liveReason = Signal(str)

    def __init__(self, param: Param):
        super().__init__()
        self.param = param
        self.setDecimals(12)
        self.setRange(-1e12, 1e12)
        lo = -1e12 if param.minimum is None else param.minimum
        hi = 1e12 if param.maximum is None else param.maximum
        self._bounds = (lo, hi)
        span = hi - lo
        self.setSingleStep(0.01 if span <= 1 else 0.1 if span <= 10 else 1.0)

    def stepBy(self, steps: int) -> None:
        lo, hi = self._bounds
        self.setValue(max(lo, min(hi, round(self.value() + steps * self.singleStep(), 10))))

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        stripped = text.strip()
        try:
            number = float(stripped)
        except ValueError:
            # a number on its way ("", "-", "1e", "0.") is fine to keep typing
            partial = re.fullmatch(r"[-+]?\d*\.?\d*(e[-+]?)?", stripped, re.IGNORECASE)
            return (QValidator.State.Intermediate if partial else QValidator.State.Invalid), text, pos
        self.liveReason.emit(_reason(self.param, number))
        return QValidator.State.Acceptable, text, pos

    def fixup(self, text: str) -> str:
        return self.textFromValue(self.value())


class ParamEditor(QWidget):
    """Base: a row widget holding one input field."""

    committed = Signal(object)
    refused = Signal(str)

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(parent)
        self.param = param
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.field: QWidget | None = None

    def _set_field(self, field: QWidget) -> None:
        self.field = field
        field.setToolTip(self.param.help)
        self._layout.addWidget(field)
        self.setFocusProxy(field)

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def retire(self) -> None:
        """Fall silent before being deleted: a field losing focus as it dies would still report."""
        self.blockSignals(True)
        for child in self.findChildren(QObject):
            child.blockSignals(True)

    def _offer(self, raw: Any) -> None:
        """Check a value from the field: commit it or refuse it with the reason."""
        try:
            value = self.param.check(raw)
        except ParamError as err:
            self.refused.emit(str(err))
            return
        self.refused.emit("")
        self.committed.emit(value)


class IntEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.spin = _BoundedSpin(param)
        self.spin.setKeyboardTracking(False)  # commit on Enter, focus loss or arrows, not per keystroke
        self.spin.valueChanged.connect(self._offer)
        self.spin.liveReason.connect(self.refused)
        self._set_field(self.spin)

    def set_value(self, value: Any) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(int(value))
        self.spin.blockSignals(False)


class SpecialIntEditor(ParamEditor):
    """Whole numbers or a named special (padding: same, valid) in an editable drop-down."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.addItems(list(param.specials))
        self.combo.activated.connect(lambda _i: self._offer_text(self.combo.currentText()))
        self.combo.lineEdit().editingFinished.connect(lambda: self._offer_text(self.combo.currentText()))
        self._set_field(self.combo)

    def _offer_text(self, text: str) -> None:
        text = text.strip()
        try:
            raw: Any = int(text)
        except ValueError:
            raw = text
        self._offer(raw)

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        self.combo.setEditText(str(value))
        self.combo.blockSignals(False)


class FloatEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.spin = _FloatSpin(param)
        self.spin.setKeyboardTracking(False)
        self.spin.valueChanged.connect(self._offer)
        self.spin.liveReason.connect(self.refused)
        self._set_field(self.spin)

    def set_value(self, value: Any) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(float(value))
        self.spin.blockSignals(False)


class BoolEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.check = QCheckBox()
        self.check.toggled.connect(self._offer)
        self._set_field(self.check)

    def set_value(self, value: Any) -> None:
        self.check.blockSignals(True)
        self.check.setChecked(bool(value))
        self.check.blockSignals(False)


class ChoiceEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.combo = QComboBox()
        self.combo.addItems(list(param.choices))
        self.combo.currentTextChanged.connect(self._offer)
        self._set_field(self.combo)

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        self.combo.setCurrentText(str(value))
        self.combo.blockSignals(False)


class TupleEditor(ParamEditor):
    """Whole numbers separated by commas ("2, 2"); brackets are optional."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.edit = QLineEdit()
        lo, hi = param.length
        self.edit.setPlaceholderText("e.g. 2, 2" if hi > 1 else "e.g. 2")
        self.edit.editingFinished.connect(lambda: self._offer_text(self.edit.text()))
        self._set_field(self.edit)

    def _offer_text(self, text: str) -> None:
        parts = [p.strip() for p in text.strip().strip("()[]").split(",")]
        parts = [p for p in parts if p]
        items: list[Any] = []
        for part in parts:
            try:
                items.append(int(part))
            except ValueError:
                items.append(part)  # Param.check names the entry that is not a whole number
        self._offer(tuple(items))

    def set_value(self, value: Any) -> None:
        self.edit.setText(", ".join(str(v) for v in value))


class TextEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.edit = QLineEdit()
        self.edit.editingFinished.connect(lambda: self._offer(self.edit.text()))
        self._set_field(self.edit)

    def set_value(self, value: Any) -> None:
        self.edit.setText(str(value))


def make_editor(param: Param, parent: QWidget | None = None) -> ParamEditor:
    if param.kind == "int":
        return SpecialIntEditor(param, parent) if param.specials else IntEditor(param, parent)
    kinds = {"float": FloatEditor, "bool": BoolEditor, "choice": ChoiceEditor,
             "tuple": TupleEditor, "str": TextEditor}
    return kinds[param.kind](param, parent)
