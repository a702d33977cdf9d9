"""File > Import…: open a PyTorch module (.py) or an ONNX file as a new project.

The questions are asked here (which file, which class, the input shape, the
output head and whether repeated module classes become block definitions,
where to save the project); the import itself runs in a child
process (`python -m runtime.cli import ...`), because importing a .py file
runs the user's code, which must not be able to crash or hang the studio.
Running it is still running someone's code with the user's rights, so before
any question about a .py file the user is told so, with the file's path, and
offered the safe route: an ONNX file, which is read, never run.
The classes offered are found by reading the file (ast), not by running it.
When the child finishes, the new project opens the way File > Open opens
one; problems (operations that became Unsupported blocks) are then on the
canvas, and the child's summary is shown. A failed import shows its message.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QInputDialog,
    QMessageBox,
    QProgressDialog,
    QWidget,
)

from runtime.lifeline import ENV as LIFELINE

FILTER = "Models (*.py *.onnx);;PyTorch code (*.py);;ONNX files (*.onnx);;All files (*)"
ONNX_FILTER = "ONNX files (*.onnx);;All files (*)"
RUN_CODE = "Run the code and import"
USE_ONNX = "Import an ONNX file instead…"
HEADS = ("from the code (make_loss), else a plain output", "classification", "regression", "binary", "output")
LOOSE = "Keep every layer loose (no definitions)"
_SHAPES_COMMENT = re.compile(r"#\s*\w+: \(B((?:, \d+)+)\)")


def module_classes(path: Path) -> list[str]:
    """Names of the classes in a .py file that derive from an nn.Module, read without running it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            if any(b.split(".")[-1] == "Module" for b in bases) or any(b in found for b in bases):
                found.append(node.name)
    return found


def known_shape(path: Path) -> str:
    """The input sizes DeepWire's exported code writes at the top of forward(), e.g. "1,8,8"; "" if none."""
    try:
        match = _SHAPES_COMMENT.search(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""
    return match.group(1).strip(", ").replace(" ", "") if match else ""


def problems_text(summary: str) -> str:
    """What to tell the user about an import with problems, from the command's printed summary."""
    lines = [line.strip() for line in summary.splitlines()
             if line.startswith(("    - ", "  problem: ", "  outputs DIFFER"))]
    shown = "\n".join(f"• {line.removeprefix('- ')}" for line in lines[:12])
    more = f"\n… and {len(lines) - 12} more" if len(lines) > 12 else ""
    return ("The project is open, but it does not compile yet: these operations have no DeepWire block "
            "and became Unsupported blocks (or did not fit). Replace or remove them, then train.\n\n"
            f"{shown}{more}")


def code_warning(parent: QWidget | None, path: Path) -> QMessageBox:
    """The box shown before a .py file is imported: its code will run; ONNX is the safe route."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Importing runs this file's code",
                      f"Importing {path.name} runs the Python code in it on this computer, with your "
                      "permissions (in a separate process, so the studio itself stays safe).", parent=parent)
    box.setInformativeText(
        f"{path}\n\nOnly import code you trust. The safe route: export the model to ONNX where it was "
        "written (torch.onnx.export(model, example_input, 'model.onnx')) and import the .onnx file; "
        "DeepWire reads an ONNX file and never runs anything from it.")
    box.addButton(RUN_CODE, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(USE_ONNX, QMessageBox.ButtonRole.ActionRole)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    return box


def confirm_running_code(parent: QWidget | None, path: Path) -> str:
    """"run", "onnx" (the user wants to import an ONNX file instead) or "cancel"."""
    box = code_warning(parent, path)
    box.exec()
    clicked = box.clickedButton()
    text = clicked.text() if clicked is not None else ""
    box.deleteLater()
    return {RUN_CODE: "run", USE_ONNX: "onnx"}.get(text, "cancel")


class ImportOptions(QDialog):
    """The output head, and whether the model's module classes become block definitions (the default)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import a model")
        self.head = QComboBox()
        self.head.addItems(list(HEADS))
        self.loose = QCheckBox(LOOSE)
        self.loose.setToolTip("Off: a module class the model uses (a ResNet's BasicBlock) becomes one "
                              "block definition, each use an instance of it. On: every layer is a plain "
                              "block on the canvas, as 'deepwire import --flat' does.")
        choice = QDialogButtonBox.StandardButton
        buttons = QDialogButtonBox(choice.Ok | choice.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Output head:", self.head)
        form.addRow(self.loose)
        form.addRow(buttons)

    def arguments(self) -> list[str]:
        """The command-line options these answers stand for."""
        args = [] if self.head.currentIndex() == 0 else ["--head", self.head.currentText()]
        return args + (["--flat"] if self.loose.isChecked() else [])


def ask_options(parent: QWidget | None) -> list[str] | None:
    """The import options the user chose (--head, --flat), or None when cancelled."""
    dialog = ImportOptions(parent)
    try:
        return dialog.arguments() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


class ImportController(QObject):
    """Asks, runs the import child, and opens the result in the window's document."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.window = window
        self.process: QProcess | None = None
        self.progress: QProgressDialog | None = None
        self.output: Path | None = None

    # --- questions ---
    def start(self) -> bool:
        """Ask what to import; True when an import was started."""
        if self.process is not None:
            return False
        start = str(self.window.document.path.parent) if self.window.document.path else ""
        path_text, _filter = QFileDialog.getOpenFileName(self.window, "Import a model", start, FILTER)
        if not path_text:
            return False
        path = Path(path_text)
        if path.suffix.lower() == ".py":
            answer = confirm_running_code(self.window, path)
            if answer == "onnx":
                path_text, _filter = QFileDialog.getOpenFileName(self.window, "Import an ONNX file", start,
                                                                 ONNX_FILTER)
                if not path_text:
                    return False
                path = Path(path_text)
            elif answer != "run":
                return False
        args = [str(path)]
        if path.suffix.lower() == ".py":
            chosen = self._ask_python(path)
            if chosen is None:
                return False
            args = chosen
        options = ask_options(self.window)
        if options is None:
            return False
        args += options
        out_text, _filter = QFileDialog.getSaveFileName(
            self.window, "Save the imported project as", str(path.with_suffix("").with_suffix(".dw.json")),
            "DeepWire projects (*.dw.json)")
        if not out_text:
            return False
        if not out_text.endswith(".dw.json"):
            out_text += ".dw.json"
        self.output = Path(out_text)
        self._run([*args, "-o", out_text])
        return True

    def _ask_python(self, path: Path) -> list[str] | None:
        classes = module_classes(path)
        if len(classes) == 1:
            name = classes[0]
        else:
            name, ok = QInputDialog.getItem(self.window, "Import a model",
                                            f"Model class in {path.name} (or a function returning one):",
                                            classes or [""], 0, True)
            if not ok or not name.strip():
                return None
        shape_hint = known_shape(path)
        shape, ok = QInputDialog.getText(
            self.window, "Import a model",
            "Input sizes without the batch, e.g. 1,28,28 for grey 28×28 images\n"
            "(several inputs: name=1,28,28; name2=16):", text=shape_hint or "1,28,28")
        if not ok:
            return None
        args = [f"{path}:{name.strip()}"]
        for part in [p.strip() for p in shape.split(";") if p.strip()]:
            args += ["--input-shape", part]
        return args

    # --- the child process ---
    def _run(self, args: list[str]) -> None:
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert(LIFELINE, str(os.getpid()))  # the child dies with the studio
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.finished.connect(lambda code, _status, p=process: self._finished(p, code))
        process.errorOccurred.connect(lambda error, p=process: self._failed_to_start(p, error))
        self.process = process
        self.progress = QProgressDialog("Importing the model…", "Cancel", 0, 0, self.window)
        self.progress.setWindowTitle("Import")
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.canceled.connect(self.cancel)
        self.progress.show()
        process.start(sys.executable, ["-m", "runtime.cli", "import", *args])

    def cancel(self) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            process.kill()
            process.waitForFinished(3000)
        self._close_progress()

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.reset()
            self.progress.deleteLater()
            self.progress = None

    def _failed_to_start(self, process: QProcess, error) -> None:
        if error == QProcess.ProcessError.FailedToStart and process is self.process:
            self.process = None
            self._close_progress()
            QMessageBox.critical(self.window, "Import failed", f"Could not start {sys.executable}.")

    def _finished(self, process: QProcess, code: int) -> None:
        if process is not self.process:
            return  # cancelled
        self.process = None
        self._close_progress()
        out = bytes(process.readAllStandardOutput()).decode(errors="replace").strip()
        err = bytes(process.readAllStandardError()).decode(errors="replace").strip()
        process.deleteLater()
        if code not in (0, 1) or self.output is None or not self.output.is_file():
            message = err.removeprefix("deepwire: ") or f"the import stopped with exit code {code}"
            QMessageBox.critical(self.window, "Import failed", message)
            return
        if not self.window.files.open_path(self.output):
            return
        if code == 1:
            QMessageBox.warning(self.window, "Imported with problems", problems_text(out))
