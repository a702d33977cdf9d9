"""The inspector: everything about the selected block, and its parameters to edit.

Shows the block's type and help, its name (renaming is one undo step), the
shapes it receives and produces (from the Document's analysis), its number
of weights and its problems, then one editor per parameter built from the
block's declaration (studio/param_editors.py). A value the declaration
refuses stays in the field, tinted, with the reason under it; it never
reaches the model. Accepted values go through `Document.set_param`, and the
inspector redraws from the Document's signals like every other view.

In a definition's tab, a setting bound to one of the definition's parameters
(ResidualBlock's `channels` sets conv1's and conv2's) is set by each
instance: its field shows the default it is drawn with and cannot be edited
there, and a line says where to change it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from graph.model import ModelError
from graph.shapes import format_shape
from graph.sharing import counts_weights, split_key, tied_counts
from graph.spec import BlockSpec
from studio.document import Document
from studio.param_editors import ParamEditor, make_editor
from studio.theme import mark_invalid


def _label(text: str = "", role: str | None = None, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if role:
        label.setProperty("role", role)
    return label


def block_param_count(spec: BlockSpec, inference, block_id: str) -> int | None:
    """Weights of one block, or None while its shapes are unknown."""
    out = inference.shapes.get(block_id)
    if out is None:
        return None
    try:
        return int(spec.count(inference.params.get(block_id, spec.defaults()),
                              inference.inputs.get(block_id, {}), out))
    except Exception:  # a count rule failing must not take the inspector down
        return None


class Inspector(QWidget):
    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.network: str | None = None
        self.block_id: str | None = None
        self.editors: dict[str, ParamEditor] = {}
        self.errors: dict[str, QLabel] = {}
        # (network, block id, Param) -> a widget shown beside the editor, or None (the Experiments
        # panel's "vary" switch; set by studio/experiments/hookup.py)
        self.param_accessory = None

        self.title = _label("", "heading")
        self.help = _label("", "help")
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("The block's name: used in messages, plots and the generated code.")
        self.name_edit.editingFinished.connect(self._rename)
        self.name_error = _label("", "error")
        self.name_error.hide()
        self.frozen = QCheckBox("Frozen: excluded from training")
        self.frozen.setToolTip("Transfer learning: a frozen block keeps the weights it starts with (from a "
                               "checkpoint); the optimizer leaves it alone, its batch-norm statistics stay")
        self.frozen.toggled.connect(self._set_frozen)
        # shared module / tied parameters: what this block's weights are, and the way out
        self.sharing = _label("", "help")
        self.sharing.hide()
        self.independent = QPushButton("Make independent")
        self.independent.setToolTip("Give this block its own weights: a copy of the settings, trained "
                                    "separately from the block it shares them with (one undo step)")
        self.independent.clicked.connect(self._make_independent)
        self.independent.hide()
        self.shapes = _label()
        self.shapes.setTextFormat(Qt.TextFormat.RichText)
        self.count = _label()
        self.problems = _label("", "error")
        self.problems.hide()
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.hint = _label("", "help")
        self.empty = _label("Select a block on the canvas to see and edit its settings.", "muted")

        body = QWidget()
        self.body = body
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.empty)
        self.details = QWidget()
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.setSpacing(6)
        details.addWidget(self.title)
        details.addWidget(self.help)
        name_row = QFormLayout()
        name_row.addRow("name", self.name_edit)
        details.addLayout(name_row)
        details.addWidget(self.name_error)
        details.addWidget(self.frozen)
        details.addWidget(self.sharing)
        details.addWidget(self.independent)
        details.addWidget(self.shapes)
        details.addWidget(self.count)
        details.addWidget(self.problems)
        self.bound_note = _label("", "help")  # in a definition's tab: settings each instance sets
        self.bound_note.hide()
        self.params_heading = _label("Parameters", "heading")
        details.addWidget(self.params_heading)
        details.addLayout(self.form)
        details.addWidget(self.bound_note)
        details.addWidget(self.hint)
        layout.addWidget(self.details)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        document.analysisChanged.connect(self._analysis_changed)
        document.projectReplaced.connect(lambda: self.show_block(None, None))
        app = QApplication.instance()
        if app is not None:
            app.focusChanged.connect(self._focus_changed)
        self.show_block(None, None)

    # --- what is shown ---
    def show_block(self, network: str | None, block_id: str | None) -> None:
        """Inspect one block (None: nothing selected)."""
        if (network, block_id) != (self.network, self.block_id) or not self.editors:
            self.network, self.block_id = network, block_id
            self._build()
        self.refresh()

    def show_selection(self, network: str, block_ids: list[str]) -> None:
        self.show_block(network, block_ids[0] if len(block_ids) == 1 else None)
        if len(block_ids) > 1:
            self.empty.setText(f"{len(block_ids)} blocks selected: select one to edit its settings.")

    def _block(self):
        if self.network is None or self.block_id is None:
            return None, None
        try:
            block = self.document.network(self.network).block(self.block_id)
        except ModelError:
            return None, None
        spec = self.document.registry.get(block.type) if block.type in self.document.registry else None
        return block, spec

    def _build(self) -> None:
        for editor in self.editors.values():
            editor.retire()
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.errors.clear()
        self.hint.clear()
        block, spec = self._block()
        self.empty.setText("Select a block on the canvas to see and edit its settings.")
        self.empty.setVisible(block is None)
        self.details.setVisible(block is not None)
        if block is None:
            return
        self.title.setText(spec.title if spec else f"Unknown block type {block.type}")
        self.help.setText(spec.help if spec else "")
        self._set_name_error("")
        if spec is None:
            return
        self.params_heading.setVisible(bool(spec.params))
        bound = self._bound(block.id)
        in_definition = self.document.is_definition(self.network)
        for param in spec.params:
            editor = make_editor(param)
            error = _label("", "error")
            error.hide()
            row = QWidget()
            column = QVBoxLayout(row)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(2)
            # a sweep varies a network's settings, not one inside a definition (shared by its instances)
            extra = self.param_accessory(self.network, block.id, param) \
                if self.param_accessory and not in_definition else None
            if extra is None:
                column.addWidget(editor)
            else:
                line = QHBoxLayout()
                line.setSpacing(4)
                line.addWidget(editor, 1)
                line.addWidget(extra)
                column.addLayout(line)
            column.addWidget(error)
            label = QLabel(param.name)
            label.setToolTip(param.help)
            label.setBuddy(editor.field)
            self.form.addRow(label, row)
            label.show()  # now, not at the next event-loop turn the layout would wait for
            row.show()
            editor.committed.connect(lambda value, name=param.name: self._commit(name, value))
            editor.refused.connect(lambda reason, name=param.name: self._set_error(name, reason))
            self.editors[param.name] = editor
            self.errors[param.name] = error
            if param.name in bound:
                editor.setEnabled(False)
                editor.field.setToolTip(f"Set by each instance of {self.network}: its parameter "
                                        f"{bound[param.name].name!r} (default {bound[param.name].default!r})")
        self.bound_note.setText("\n".join(
            f"{name} is set by each instance (the parameter {exposed.name!r} of {self.network}, default "
            f"{exposed.default!r}): change it on an instance's card" for name, exposed in bound.items()))
        self.bound_note.setVisible(bool(bound))

    def _bound(self, block_id: str) -> dict:
        """In a definition's tab: this block's settings that an exposed parameter sets -> that parameter."""
        if not self.document.is_definition(self.network):
            return {}
        found = {}
        for exposed in self.document.project.definitions.get(self.network).params:
            for bind in exposed.binds:
                bid, _, name = bind.partition(".")
                if bid == block_id:
                    found.setdefault(name, exposed)
        return found

    def refresh(self) -> None:
        """Redraw values, shapes, count and problems from the model and the latest analysis."""
        block, spec = self._block()
        if block is None:
            if self.block_id is not None:  # the block was deleted (or undone away)
                self.network, self.block_id = None, None
                self._build()
            return
        if not self.name_edit.hasFocus() or self.name_edit.text() == "":
            self.name_edit.setText(block.name)
        if self.frozen.isChecked() != block.frozen:
            blocked = self.frozen.blockSignals(True)  # showing the model's value is not an edit
            self.frozen.setChecked(block.frozen)
            self.frozen.blockSignals(blocked)
        analysis = self.document.analysis(self.network)
        inference = analysis.inference
        if spec is not None:
            params = inference.params.get(block.id, {**spec.defaults(), **block.params})
            bound = self._bound(block.id)  # drawn with the definition's default, not the body's value
            for name, editor in self.editors.items():
                shown = params.get(name) if name in bound else block.params.get(name, params.get(name))
                editor.set_value(shown)
                self._set_error(name, "")
            self.shapes.setText(self._shapes_html(spec, block.id, inference))
            count = block_param_count(spec, inference, block.id)
            net = self.document.network(self.network)
            if count is not None and not counts_weights(net, block.id):
                self.count.setText(f"Weights: none of its own ({count:,} parameters, counted at "
                                   f"'{net.blocks[net.owner_of(block.id)].name}')")
            else:
                tied = tied_counts(net, self.document.registry, inference).get(block.id, 0)
                held = "" if not tied else f" ({tied:,} more are tied to another block's, counted there)"
                self.count.setText("Weights: unknown until its input shapes are known" if count is None
                                   else f"Weights: {max(count - tied, 0):,} parameters{held}")
            self._show_sharing(net, block)
        problems = [d.message for d in analysis.diagnostics if d.block == block.id]
        self.problems.setText("\n".join(f"• {p}" for p in problems))
        self.problems.setVisible(bool(problems))

    def sharing_text(self) -> str:
        """What the inspector says about shared weights ("" for a block with its own)."""
        return self.sharing.text() if self.sharing.isVisibleTo(self) else ""

    def _show_sharing(self, net, block) -> None:
        lines = []
        independent = False
        if block.shares is not None:
            owner = net.blocks.get(block.shares)
            lines.append(f"Uses the module of {owner.name!r}: the same weights, trained together; its "
                         "settings are that block's" if owner is not None else
                         f"Uses the module of block {block.shares!r}, which is missing")
            independent = True
        else:
            others = [net.blocks[b].name for b in net.uses_of(block.id)[1:]]
            if others:
                lines.append("Its module is also used by " + ", ".join(repr(n) for n in others))
        for key, source in net.ties.items():
            mine, theirs = split_key(net, key), split_key(net, source)
            if mine is not None and mine[0] == block.id:
                target = repr(source) if theirs is None else \
                    f"the {theirs[1]} of {net.blocks[theirs[0]].name!r}"
                lines.append(f"Parameter {mine[1]} is tied to {target} (one tensor, trained together)")
                independent = True
            elif theirs is not None and theirs[0] == block.id:
                user = f"the {mine[1]} of {net.blocks[mine[0]].name!r}" if mine is not None else repr(key)
                lines.append(f"Parameter {theirs[1]} is also {user} (tied)")
        self.sharing.setText("\n".join(lines))
        self.sharing.setVisible(bool(lines))
        self.independent.setVisible(independent)

    def _make_independent(self) -> None:
        block, _spec = self._block()
        if block is not None:
            self.document.make_independent(self.network, block.id)

    def _shapes_html(self, spec: BlockSpec, block_id: str, inference) -> str:
        received = inference.inputs.get(block_id, {})
        params = inference.params.get(block_id, spec.defaults())
        rows = []
        for port in spec.input_ports(params):
            shape = received.get(port.name)
            rows.append(f"in <b>{port.name}</b>: {format_shape(shape) if shape else 'not connected'}")
        if spec.has_output:
            rows.append(f"out: {format_shape(inference.shapes.get(block_id))}")
        return "<br>".join(rows)

    # --- edits ---
    def _commit(self, name: str, value) -> None:
        block, _spec = self._block()
        if block is None:
            return
        if block.params.get(name) == value and type(block.params.get(name)) is type(value):
            return
        self.document.set_param(self.network, block.id, name, value)

    def _set_frozen(self, frozen: bool) -> None:
        block, _spec = self._block()
        if block is not None and block.frozen != frozen:
            self.document.set_frozen(self.network, [block.id], frozen)

    def _rename(self) -> None:
        block, _spec = self._block()
        if block is None:
            return
        name = self.name_edit.text().strip()
        if not name:
            self._set_name_error("A block needs a name.")
            return
        if any(ch in name for ch in "\n\r\t"):
            self._set_name_error("A name is one line of text.")
            return
        self._set_name_error("")
        if name != block.name:
            self.document.rename_block(self.network, block.id, name)

    def _set_error(self, name: str, reason: str) -> None:
        label, editor = self.errors.get(name), self.editors.get(name)
        if label is None or editor is None:
            return
        label.setText(reason)
        label.setVisible(bool(reason))
        if editor.field is not None and bool(editor.field.property("invalid")) != bool(reason):
            mark_invalid(editor.field, bool(reason))

    def _set_name_error(self, reason: str) -> None:
        self.name_error.setText(reason)
        self.name_error.setVisible(bool(reason))
        mark_invalid(self.name_edit, bool(reason))

    def error_text(self, name: str) -> str:
        """The reason shown under a parameter's field ("" when it is fine)."""
        label = self.errors[name]
        return label.text() if label.isVisibleTo(self) else ""

    # --- signals ---
    def _analysis_changed(self, network: str) -> None:
        if network == self.network:
            self.refresh()

    def _focus_changed(self, _old, new) -> None:
        # the help of the field being edited, under the form, so it is read while typing
        for name, editor in self.editors.items():
            if new is not None and (new is editor.field or editor.field.isAncestorOf(new)):
                self.hint.setText(f"{name}: {editor.param.help}")
                return
