"""The generated code: golden files, lint-clean for every example, and safe against hostile names.

Golden files in tests/golden/ pin the exact code of a few examples, so any
change to the generated code shows up as a reviewable diff. Regenerate them
after an intended change with:

    UPDATE_GOLDEN=1 pytest tests/test_codegen.py

User text (block, network and project names) must never become code: the
hostile-name tests parse the generated module and check it calls nothing
dangerous, uses only legal identifiers, and still builds and runs.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.compiler import compile_project
from graph.definitions import registry_for
from graph.examples import list_examples, resolve_project
from graph.model import Block, Edge, Network, Project
from graph.project_io import load_project
from runtime.build import load_source

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = ["digits_cnn", "residual_cnn", "digits_gan"]
EXAMPLES = [e.name for e in list_examples()]
RUFF = [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,I", "--line-length", "120"]

HOSTILE = [
    "__import__('os').system('x')",
    "'; import os; os.system('rm -rf /') #",
    '"""\nimport os\n"""',
    "a\nb = eval('1')",
    "exec",
    "open",
    "forward",
    "training",
    "to",
    "self",
    "class",
    "None",
    "code",
    "graph",
    "",
    "   ",
    "名前",
    "Ünïcödé",
    "1st layer",
    "x",
    "x",  # a duplicate
    "torch",
    "nn",
    "F",
    "make_loss",
    "\\",
    "{self}",
    "{x}",
]
DANGEROUS_CALLS = {"__import__", "eval", "exec", "system", "open", "compile", "getattr", "setattr", "globals",
                   "locals", "vars", "input", "breakpoint", "popen", "remove", "rmtree"}


def example_source(name: str, registry) -> str:
    return compile_project(load_project(resolve_project(name), registry), registry).source


# --- golden files -------------------------------------------------------------------------

@pytest.mark.parametrize("name", GOLDEN)
def test_generated_code_matches_the_golden_file(name, registry):
    source = example_source(name, registry)
    golden = GOLDEN_DIR / f"{name}.py"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(exist_ok=True)
        golden.write_text(source, encoding="utf-8")
    assert golden.is_file(), f"missing {golden}; create it with UPDATE_GOLDEN=1 pytest {__file__}"
    assert source == golden.read_text(encoding="utf-8"), (
        f"the code generated for {name} changed; if that is intended, run "
        f"UPDATE_GOLDEN=1 pytest tests/test_codegen.py and review the diff")


# --- every example: lint-clean, compiles, no unused imports -------------------------------

def test_every_example_passes_ruff(registry, tmp_path):
    paths = []
    for name in EXAMPLES:
        path = tmp_path / f"{name}.py"
        path.write_text(example_source(name, registry), encoding="utf-8")
        paths.append(str(path))
    done = subprocess.run([*RUFF, *paths], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_code_compiles_and_imports_only_what_it_uses(name, registry):
    project = load_project(resolve_project(name), registry)
    compiled = compile_project(project, registry)
    source = compiled.source
    compile(source, f"{name}.py", "exec")
    tree = ast.parse(source)
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {a.asname or a.name for a in node.names}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert imported and imported <= used, f"unused imports: {imported - used}"
    lines = source.splitlines()
    assert all(len(line) <= 120 for line in lines)
    # one line per computing block in forward(), each with its shape comment
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for net in project.networks:
        cls = classes[compiled.network(net.name).class_name]
        forward = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "forward")
        assigns = [s for s in forward.body if isinstance(s, ast.Assign)]
        known = registry_for(net, registry)  # the project's definitions are block types too
        computing = [b for b in net.blocks.values() if known.get(b.type).role == "layer"]
        assert len(assigns) == len(computing)
        assert all(lines[s.lineno - 1].endswith(")") and "  # (B" in lines[s.lineno - 1] for s in assigns)


# --- hostile names ------------------------------------------------------------------------

def hostile_project(names: list[str], network_names=("model",), project_name="x") -> Project:
    """Networks of Linear/ReLU chains whose blocks carry the given names (cycled)."""
    networks = []
    for n, net_name in enumerate(network_names):
        net = Network(net_name)
        chain = [("VectorInput", {"features": 3})]
        for i in range(len(names)):
            chain.append(("Linear", {"features": 4}) if i % 2 == 0 else ("ReLU", {}))
        chain.append(("RegressionHead", {}))
        previous = None
        for i, (type_id, params) in enumerate(chain):
            block_id = f"b{i}"
            net.add_block(Block(block_id, type_id, names[(i + n) % len(names)], params, (220.0 * i, 0.0)))
            if previous is not None:
                net.connect(Edge(previous, block_id, "x"))
            previous = block_id
        networks.append(net)
    return Project(name=project_name, networks=networks)


def assert_safe_code(source: str, hostile: list[str]) -> None:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = getattr(func, "id", None) or getattr(func, "attr", "")
            assert called not in DANGEROUS_CALLS, f"generated code calls {called}"
        if isinstance(node, ast.Name):
            assert node.id.isidentifier() and not keyword.iskeyword(node.id)
            assert node.id.isascii()
        if isinstance(node, ast.Attribute):
            assert node.attr.isidentifier() and node.attr.isascii()
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert node.name.isidentifier() and node.name.isascii()
            assert node.name not in dir(builtins)
        if isinstance(node, ast.arg):
            assert node.arg.isidentifier() and not keyword.iskeyword(node.arg)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = {a.name for a in node.names} | {getattr(node, "module", None) or "torch"}
            assert modules <= {"torch", "nn", "torch.nn.functional", "math"}, modules
    # outside strings and comments, no hostile text that looks like code shows up
    code_tokens = " ".join(
        tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type not in (tokenize.STRING, tokenize.COMMENT))
    for text in hostile:
        if any(mark in text for mark in "()'\";=\n"):
            assert text not in code_tokens, text


def assert_submodules_are_safe(model: torch.nn.Module) -> None:
    """Submodule attributes shadow nothing nn.Module (or torch.export's GraphModule) has."""
    reserved = set(dir(torch.nn.Module)) | set(dir(torch.fx.GraphModule))
    names = [name for name, _ in model.named_children()]
    assert len(names) == len(set(names))
    assert not set(names) & reserved, set(names) & reserved


def build_and_run(source: str, compiled, project: Project) -> None:
    module = load_source(source, "hostile")
    for net in project.networks:
        info = compiled.network(net.name)
        model = getattr(module, info.class_name)()
        assert_submodules_are_safe(model)
        out = model(*[torch.randn(2, *shape) for shape in info.input_shapes])
        assert tuple(out.shape) == (2, 4)


def test_hostile_block_names_stay_out_of_the_code(registry):
    project = hostile_project(HOSTILE, network_names=("model",), project_name="__import__('os')")
    compiled = compile_project(project, registry)
    assert_safe_code(compiled.source, HOSTILE)
    build_and_run(compiled.source, compiled, project)
    attrs = list(compiled.network("model").module_names.values())
    linears = [b for b in project.network().blocks.values() if b.type == "Linear"]
    assert len(attrs) == len(set(attrs)) >= len(linears) == len(HOSTILE) // 2  # one each, all distinct


@pytest.mark.parametrize("project_name", ['"""', "forward", "", "Model", "nn", "class", "名前", "a\nb"])
def test_hostile_project_and_network_names(registry, project_name):
    networks = ("forward", "forward ", "__init__", "")
    project = hostile_project(["a", "b"], network_names=networks, project_name=project_name)
    compiled = compile_project(project, registry)
    assert_safe_code(compiled.source, [project_name, *networks])
    classes = [info.class_name for info in compiled.networks.values()]
    assert len(set(classes)) == len(networks)
    build_and_run(compiled.source, compiled, project)

    single = hostile_project(["a", "b"], network_names=("model",), project_name=project_name)
    compiled = compile_project(single, registry)
    assert_safe_code(compiled.source, [project_name])
    build_and_run(compiled.source, compiled, single)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(max_size=12), min_size=2, max_size=6),
       network=st.text(max_size=12), project_name=st.text(max_size=12))
def test_any_names_give_valid_safe_code(registry, names, network, project_name):
    project = hostile_project(names, network_names=(network,), project_name=project_name)
    compiled = compile_project(project, registry)
    assert_safe_code(compiled.source, [])
    build_and_run(compiled.source, compiled, project)
