"""No file a user opens runs code: checkpoints, weights, project files, and text that reaches code.

1. A checkpoint crafted to run code when unpickled (its __reduce__ calls
   os.system or exec to create a marker file) is refused with a clear
   message by every path that reads weights: load_checkpoint, `deepwire
   export --weights`, `deepwire preview --weights`, `deepwire evaluate`,
   `deepwire train --resume`, transfer learning (init_checkpoint), and the
   marker never appears. The same file loaded the unsafe way does create it
   (in a child process), so the test can fail.
2. A scan of the product's source (AST, not text): torch.load only with
   weights_only=True, np.load never with allow_pickle=True, no pickle /
   marshal / shelve / dill imports, eval/exec/compile only in
   runtime/build.py, whose load_source is fed only compiler output.
3. Injection: block names, group names, project and network names, the
   description, data paths, str training settings and export file names
   full of quotes, newlines, NUL, format fields, U+2028, backslashes and
   ready-made `import os; os.system(...)` lines: the generated module and
   training script parse, have exactly the syntax tree of the same project
   with harmless names (so no payload became code), build, run, import,
   and the marker file is never created.
"""

from __future__ import annotations

import ast
import os
import pickle
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from graph.compiler import compile_project
from graph.examples import example_path
from graph.model import Group
from graph.project_io import load_project, save_project
from graph.training_config import DataSpec
from runtime.cli import main
from runtime.train.checkpoint import load_checkpoint
from runtime.train.errors import SetupError

ROOT = Path(__file__).resolve().parent.parent


class _RunsCode:
    """Unpickling this calls `function(argument)`: what a hostile checkpoint would do."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def _hostile_checkpoint(path: Path, marker: Path, how: str) -> Path:
    payload = (_RunsCode(os.system, f"touch {marker}") if how == "os.system"
               else _RunsCode(exec, f"open({str(marker)!r}, 'w').write('pwned')"))
    state = {"format": "deepwire-checkpoint", "version": 1, "models": {"model": {"w": torch.zeros(1)}},
             "epoch": 1, "step": 1, "metrics": {}, "evil": payload}
    if how == "raw pickle":  # not even a torch zip file: a bare pickle stream
        path.write_bytes(pickle.dumps(state))
    else:
        torch.save(state, path)
    return path


HOW = ("os.system", "exec", "raw pickle")


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a file opened by DeepWire ran code"


def _slow_but_first(values):
    """The first value by default, the rest only in the slow run."""
    return [values[0]] + [pytest.param(v, marks=pytest.mark.slow) for v in values[1:]]


@pytest.mark.parametrize("how", _slow_but_first(HOW))
def test_the_crafted_checkpoint_really_runs_code_when_unpickled_unsafely(tmp_path, how):
    marker = tmp_path / "PWNED-by-design"
    path = _hostile_checkpoint(tmp_path / "evil.pt", marker, how)
    loader = ("import pickle,sys; pickle.load(open(sys.argv[1],'rb'))" if how == "raw pickle" else
              "import torch,sys; torch.load(sys.argv[1], weights_only=False)")
    subprocess.run([sys.executable, "-c", loader, str(path)], capture_output=True, timeout=120)
    assert marker.exists()  # so the refusals below are refusals of a real attack


@pytest.mark.parametrize("how", HOW)
def test_load_checkpoint_refuses_a_checkpoint_that_runs_code(tmp_path, marker, how):
    path = _hostile_checkpoint(tmp_path / "evil.pt", marker, how)
    with pytest.raises(SetupError, match="cannot be read as a weights-only checkpoint"):
        load_checkpoint(path)


def _iris_project(tmp_path: Path, **training) -> Path:
    registry = __import__("graph.blocks", fromlist=["default_registry"]).default_registry()
    project = load_project(example_path("iris_mlp"), registry)
    if training:
        project.training = project.training.replace(**training)
    path = tmp_path / "iris.dw.json"
    save_project(project, path)
    return path


def _run_folder(tmp_path: Path, evil: Path, name: str) -> Path:
    run = tmp_path / "runs" / "evil-run"
    run.mkdir(parents=True)
    (run / "project.dw.json").write_bytes(_iris_project(tmp_path).read_bytes())
    (run / name).write_bytes(evil.read_bytes())
    return run


PATHS = ("export --weights", "preview --weights", "evaluate best.pt", "train --resume", "init_checkpoint")


@pytest.mark.parametrize("how", _slow_but_first(HOW))
@pytest.mark.parametrize("where", PATHS)
def test_every_weight_loading_path_refuses_it(tmp_path, marker, capsys, where, how):
    evil = _hostile_checkpoint(tmp_path / "evil.pt", marker, how)
    if where == "export --weights":
        args = ["export", str(_iris_project(tmp_path)), "-o", str(tmp_path / "m.py"), "--weights", str(evil)]
    elif where == "preview --weights":
        args = ["preview", str(_iris_project(tmp_path)), "--block", "b2", "--weights", str(evil),
                "--out", str(tmp_path / "p.npz")]
    elif where == "evaluate best.pt":
        args = ["evaluate", str(_run_folder(tmp_path, evil, "best.pt"))]
    elif where == "train --resume":
        run = _run_folder(tmp_path, evil, "last.pt")
        args = ["train", str(_iris_project(tmp_path)), "--resume", str(run), "--quiet"]
    else:
        args = ["train", str(_iris_project(tmp_path, init_checkpoint=str(evil))), "--quiet",
                "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "evil.pt" in err or "last.pt" in err or "best.pt" in err, err
    assert "Traceback" not in err


# --- 2. the product's source, scanned -------------------------------------------------------------------

PRODUCT = ("graph", "runtime", "studio")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}


def _product_files():
    for package in PRODUCT:
        yield from sorted((ROOT / package).rglob("*.py"))


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def test_no_product_code_unpickles_or_evaluates_text():
    problems, torch_loads, execs = [], 0, []
    for path in _product_files():
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [f"{where}: imports {a.name}" for a in node.names if a.name in UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "") in UNSAFE_MODULES:
                problems.append(f"{where}: imports from {node.module}")
        for call, func in _calls(tree):
            if func in ("torch.load", "load") and func == "torch.load":
                torch_loads += 1
                flag = _keyword(call, "weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    problems.append(f"{where}:{call.lineno}: torch.load without weights_only=True")
            elif func.endswith("np.load") or func == "numpy.load":
                flag = _keyword(call, "allow_pickle")
                if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is False):
                    problems.append(f"{where}:{call.lineno}: np.load with allow_pickle")
            elif func in ("eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec"):
                execs.append(f"{where}:{func}")
    assert problems == []
    assert torch_loads == 1  # the one reader of weight files, runtime/weights_file.py, and no other
    # the one place that runs code: the compiler's output, in runtime/build.py
    assert sorted(set(execs)) == ["runtime/build.py:compile", "runtime/build.py:exec"]


def test_load_source_only_ever_runs_compiler_output():
    """Every call of runtime.build.load_source passes the `.source` of a compile_project result."""
    callers = []
    for path in _product_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call, func in _calls(tree):
            if func.endswith("load_source"):
                callers.append((path.relative_to(ROOT), ast.unparse(call.args[0])))
    assert callers, "load_source is used"
    for where, argument in callers:
        # runtime/parity.py runs compiler output (or the file export just wrote, which the export check
        # imports and runs anyway) with a copy of each block's value kept after its line: tapped_source
        # adds only fixed lines naming locals that a strict pattern matched in that source
        tapped = str(where) == "runtime/parity.py" and argument == "tapped_source(source, info, blocks)"
        assert argument.endswith("compiled.source") or tapped, f"{where}: load_source({argument})"


# --- 3. injection through text that reaches generated code --------------------------------------------

def _payloads(marker: Path) -> list[str]:
    touch = f"os.system('touch {marker}')"
    return [
        '"""', "'''", f"\nimport os; {touch}\n", f'"); import os; {touch}; ("', f"'); {touch}; ('",
        f"\\\nimport os; {touch}", f"# \n{touch}", f"\r{touch}", f"\u2028{touch}", f"\u2029{touch}",
        "\x00", "\x0c", "\ufeff", "{self}", "{x}", "{inputs}", "}}{{", "%(x)s", "\\", "\\N{BULLET}",
        f"__import__('os').system('touch {marker}')", "self", "x", "nn", "torch", "F", "super", "class",
        "lambda", "__init__", "forward",
    ]


def _project_with(registry, text: str):
    project = load_project(example_path("iris_mlp"), registry)
    project.name, project.description = text, text
    net = project.networks[0]
    net.name = text or "model"
    for block in net.blocks.values():
        block.name = text
    net.groups = [Group("g1", text, tuple(net.blocks)[:2])]
    project.data = DataSpec("csv", {"path": f"{text}.csv", "label": text})
    if text.isprintable():  # str settings are one line: the others are refused as they are typed
        project.training = project.training.replace(init_blocks=text)
    return project


def _shape(source: str) -> Counter:
    """The syntax tree's node kinds: payloads may change names and strings, never the structure."""
    return Counter(type(node).__name__ for node in ast.walk(ast.parse(source)))


def test_hostile_text_never_becomes_code(registry, tmp_path, marker):
    from runtime.build import load_source
    from runtime.export import as_tuple, export_python, sample_inputs

    baseline = _shape(compile_project(_project_with(registry, "plain"), registry).source)
    for text in _payloads(marker):
        project = _project_with(registry, text)
        compiled = compile_project(project, registry)
        assert _shape(compiled.source) == baseline, repr(text)
        module = load_source(compiled.source)
        info = next(iter(compiled.networks.values()))
        with torch.no_grad():
            outputs = as_tuple(getattr(module, info.class_name)().eval()(*sample_inputs(info, 2)))
        assert outputs[0].shape == (2, 3)
        exported = export_python(project, registry, tmp_path / "model.py")
        assert exported.read_text(encoding="utf-8") == compiled.source
        assert not marker.exists(), repr(text)


def test_hostile_text_and_file_names_stay_out_of_the_training_script(registry, tmp_path, marker):
    from runtime.export_script import write_training_script
    from tests.test_export import import_file

    dataset = _iris_dataset(registry)
    plain = write_training_script(_project_with(registry, "plain"), registry, tmp_path / "plain.py",
                                  dataset=dataset)
    baseline = _shape(plain.read_text(encoding="utf-8"))
    for i, text in enumerate(_payloads(marker)):
        name = text.replace("/", "_").replace("\x00", "_") or "empty"
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        out = write_training_script(_project_with(registry, text), registry, folder / f"{name}.py",
                                    data_path=folder / f"{name}.npz", dataset=dataset)
        assert _shape(out.read_text(encoding="utf-8")) == baseline, repr(text)
        import_file(out)  # as a user would import it: defines things, runs nothing
        assert not marker.exists(), repr(text)


def _iris_dataset(registry):
    from runtime.train.data import load_project_data

    return load_project_data(load_project(example_path("iris_mlp"), registry), registry)


# --- 4. data files named in a project: shown before use, read, never written ----------------------------

def _csv(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_training_reads_the_data_file_and_never_writes_it(tmp_path, capsys):
    import hashlib

    from tests.test_train_fixtures import chain, project

    data = _csv(tmp_path / "data" / "table.csv")
    os.chmod(data, 0o444)  # as a user protecting it would (root ignores this; the checks below do not)
    before = (hashlib.sha256(data.read_bytes()).hexdigest(), data.stat().st_mtime_ns, data.stat().st_size)
    proj = project(chain("model", [("in", "VectorInput", {"features": 2}), ("fc", "Linear", {"features": 2}),
                                   ("head", "ClassificationHead", {"classes": 2})]), epochs=1)
    proj.data = DataSpec("csv", {"path": "data/table.csv"})
    save_project(proj, tmp_path / "p.dw.json")
    assert main(["train", str(tmp_path / "p.dw.json"), "--quiet", "--out", str(tmp_path / "run")]) == 0
    after = (hashlib.sha256(data.read_bytes()).hexdigest(), data.stat().st_mtime_ns, data.stat().st_size)
    assert after == before
    assert sorted(p.name for p in data.parent.iterdir()) == ["table.csv"]  # nothing written beside it


def test_the_studio_shows_the_data_files_before_training(qtbot, tmp_path, registry):
    from studio.document import Document
    from studio.training.data_panel import DataPanel

    project = load_project(example_path("iris_mlp"), registry)
    project.data = DataSpec("csv", {"path": "data/table.csv"})
    document = Document(registry, project)
    panel = DataPanel(document)
    qtbot.addWidget(panel)
    assert "data/table.csv (relative: save the project" in panel.files.text()

    folder = tmp_path / "project"
    folder.mkdir()
    document.save(folder / "iris.dw.json")
    document.set_training(data=DataSpec("csv", {"path": "data/table.csv"}))
    panel.refresh()
    wanted = str((folder / "data" / "table.csv").resolve())
    assert panel.files.text() == f"Reads (never writes): {wanted} (not found)"
    _csv(folder / "data" / "table.csv")
    panel.refresh()
    assert panel.files.text() == f"Reads (never writes): {wanted}" and not panel.files.isHidden()
    panel.resize(420, 520)
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save(str(tmp_path / "data_panel.png"))
    if os.environ.get("DEEPWIRE_SCREENSHOTS"):
        panel.grab().save(os.path.join(os.environ["DEEPWIRE_SCREENSHOTS"], "data_panel_files.png"))
