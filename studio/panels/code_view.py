"""The code view: the generated PyTorch source, read-only, highlighted, kept current.

It recompiles (graph.compiler, no torch needed) a short moment after the
last change, so typing in the inspector stays fluid however big the
network. While the project has errors it shows them as comments instead of
code. Selecting a block highlights the line of `forward` that runs it.
"""

from __future__ import annotations

import keyword

from PySide6.QtCore import QRegularExpression, QTimer
from PySide6.QtGui import QColor, QFont, QFontDatabase, QSyntaxHighlighter, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

from graph.compiler import CompiledProject, CompileError, compile_project
from studio import theme
from studio.document import Document

DEBOUNCE_MS = 150
BUILTINS = ("super", "len", "range", "int", "float", "tuple", "list", "dict", "print", "isinstance",
            "staticmethod", "property", "min", "max", "sum", "zip", "enumerate")


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, builtins, self, strings, comments, numbers, and the names after def/class."""

    def __init__(self, document, dark: bool = False):
        super().__init__(document)
        self.set_dark(dark)

    def set_dark(self, dark: bool) -> None:
        colors = theme.code_colors(dark)

        def fmt(name: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
            f = QTextCharFormat()
            f.setForeground(QColor(colors[name]))
            if bold:
                f.setFontWeight(QFont.Weight.Bold)
            f.setFontItalic(italic)
            return f

        words = "|".join(keyword.kwlist)
        self.rules = [
            (QRegularExpression(rf"\b({words})\b"), fmt("keyword", bold=True)),
            (QRegularExpression(rf"\b({'|'.join(BUILTINS)})\b"), fmt("builtin")),
            (QRegularExpression(r"\bself\b"), fmt("self")),
            (QRegularExpression(r"\b\d+(\.\d+)?([eE][-+]?\d+)?\b"), fmt("number")),
            (QRegularExpression(r"(?<=\bdef )\w+|(?<=\bclass )\w+"), fmt("definition", bold=True)),
        ]
        self.string_format = fmt("string")
        self.comment_format = fmt("comment", italic=True)
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt in self.rules:
            matches = pattern.globalMatch(text)
            while matches.hasNext():
                m = matches.next()
                self.setFormat(m.capturedStart(), m.capturedLength(), fmt)
        # strings and comments last, over whatever the rules coloured inside them;
        # a triple quote left open continues on the next lines (block state 1)
        self.setCurrentBlockState(0)
        i, n = 0, len(text)
        if self.previousBlockState() == 1:
            close = text.find('"""')
            if close < 0:
                self.setFormat(0, n, self.string_format)
                self.setCurrentBlockState(1)
                return
            self.setFormat(0, close + 3, self.string_format)
            i = close + 3
        while i < n:
            if text.startswith('"""', i):
                close = text.find('"""', i + 3)
                if close < 0:
                    self.setFormat(i, n - i, self.string_format)
                    self.setCurrentBlockState(1)
                    return
                self.setFormat(i, close + 3 - i, self.string_format)
                i = close + 3
            elif text[i] in "\"'":
                j = i + 1
                while j < n and text[j] != text[i]:
                    j += 2 if text[j] == "\\" else 1
                self.setFormat(i, min(j + 1, n) - i, self.string_format)
                i = j + 1
            elif text[i] == "#":
                self.setFormat(i, n - i, self.comment_format)
                return
            else:
                i += 1


class CodeView(QWidget):
    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.compiled: CompiledProject | None = None
        self.editor = QPlainTextEdit()
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.editor.setFont(font)
        self.highlighter = PythonHighlighter(self.editor.document())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor)
        self._selected: tuple[str, str] | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.refresh)
        document.analysisChanged.connect(self.schedule)
        document.projectReplaced.connect(self.schedule)
        self.refresh()

    def set_dark(self, dark: bool) -> None:
        self.highlighter.set_dark(dark)

    def schedule(self, *_args) -> None:
        """Recompile soon; further changes meanwhile push it back (debounce)."""
        self.timer.start()

    def text(self) -> str:
        return self.editor.toPlainText()

    def refresh(self) -> None:
        self.timer.stop()
        doc = self.document
        analyses = {net.name: doc.graph_analysis(net.name) for net in doc.project.networks}
        try:
            self.compiled = compile_project(doc.project, doc.registry, analyses)
            text = self.compiled.source
        except CompileError:
            self.compiled = None
            text = self._problems_text(analyses)
        if text == self.editor.toPlainText():
            return
        bar = self.editor.verticalScrollBar()
        keep = bar.value()  # stay where the reader was, not jump to the top on every edit
        self.editor.setPlainText(text)
        bar.setValue(keep)
        self._mark_selected()

    def _problems_text(self, analyses) -> str:
        lines = ["# The code appears here once the network has no errors.", "# To fix:"]
        for name, analysis in analyses.items():
            for d in analysis.diagnostics:
                if d.is_error:
                    where = f"[{name}] " if len(analyses) > 1 else ""
                    lines.append(f"#   - {where}{d.message}")
        return "\n".join(lines) + "\n"

    def show_block(self, network: str | None, block_id: str | None) -> None:
        """Highlight (and scroll to) the forward line of the selected block."""
        self._selected = (network, block_id) if network and block_id else None
        self._mark_selected(scroll=True)

    def line_of(self, network: str, block_id: str) -> int | None:
        if self.compiled is None or network not in self.compiled.networks:
            return None
        return self.compiled.networks[network].lines.get(block_id)

    def _mark_selected(self, scroll: bool = False) -> None:
        line = self.line_of(*self._selected) if self._selected else None
        if line is None:
            self.editor.setExtraSelections([])
            return
        block = self.editor.document().findBlockByLineNumber(line - 1)
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(self.palette().highlight().color().lighter(170)
                                       if not self._dark() else QColor("#3b4252"))
        selection.format.setProperty(QTextCharFormat.Property.FullWidthSelection, True)
        selection.cursor = QTextCursor(block)
        self.editor.setExtraSelections([selection])
        if scroll:
            self.editor.setTextCursor(QTextCursor(block))
            self.editor.centerCursor()

    def _dark(self) -> bool:
        return self.palette().window().color().lightness() < 128
