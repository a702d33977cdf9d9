"""`pip install -e ".[dev]"` installs everything the tests import, so the README's test command passes."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

# Python 3.10 has no tomllib; pip carries the same parser
tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "pip._vendor.tomli")

ROOT = Path(__file__).resolve().parent.parent
OWN = {"graph", "runtime", "studio", "tests", "bench"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["dev"] + extras["corpus"]  # corpus: the import corpus
    return {_normal(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0]) for req in requirements}


def _imported_by_tests() -> dict[str, str]:
    """Top-level third-party module -> a test file importing it."""
    found: dict[str, str] = {}
    local = {path.stem for path in (ROOT / "tests").rglob("*.py")}  # helpers a test puts on sys.path
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN and top not in local:
                    found.setdefault(top, path.name)
    return found


def test_every_package_the_tests_import_is_a_dependency_or_in_the_dev_extra():
    declared = _declared()
    owners = metadata.packages_distributions()
    imported = _imported_by_tests()
    assert {"torch", "PySide6", "safetensors", "onnxruntime"} <= set(imported)  # the scan sees real imports
    undeclared = {module: (owners.get(module), where) for module, where in imported.items()
                  if not any(_normal(dist) in declared for dist in owners.get(module, [module]))}
    assert undeclared == {}, "add these to [project.optional-dependencies] dev in pyproject.toml"


def test_plain_pytest_runs_the_default_suite_and_slow_tests_stay_reachable():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "-m 'not slow'" in options["addopts"]
    assert "-n auto" in options["addopts"]  # every core: the default suite within 5 minutes on two
    assert any(marker.startswith("slow:") for marker in options["markers"])


def _ci_tests(default_status: int, slow_status: int) -> tuple[int, list[str]]:
    """Run .ci/run's test part with `python` answering the two pytest runs with these statuses."""
    import subprocess

    script = (ROOT / ".ci" / "run").read_text()
    tests_part = script[script.index("export QT_QPA_PLATFORM"):]
    fake = (f'python() {{ echo "ran: $*"; if [[ "$*" == *"-m slow"* ]]; then return {slow_status}; fi; '
            f'return {default_status}; }}\n')
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + fake + tests_part],
                          capture_output=True, text=True, timeout=30)
    return done.returncode, [line for line in done.stdout.splitlines() if line.startswith("ran:")]


def test_ci_runs_the_default_then_the_slow_suite_and_fails_when_either_fails():
    code, ran = _ci_tests(0, 0)
    assert code == 0 and ran == ["ran: -m pytest -q -p no:cacheprovider",
                                 "ran: -m pytest -q -p no:cacheprovider -m slow"]
    assert _ci_tests(1, 0) == (1, ran[:1])  # a failing default suite stops CI at once
    assert _ci_tests(0, 1)[0] == 1
    assert _ci_tests(5, 0)[0] == 5  # no default tests at all is a broken checkout
    assert _ci_tests(0, 5)[0] == 0  # no test marked slow is fine
