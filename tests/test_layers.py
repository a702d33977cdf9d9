"""The layering rule, checked: graph/ imports without torch or Qt, runtime/ without Qt."""

import subprocess
import sys

GRAPH_MODULES = [
    "graph.spec", "graph.params", "graph.shapes", "graph.pycode", "graph.model", "graph.walk",
    "graph.infer", "graph.validate", "graph.compiler", "graph.blocks", "graph.training_config",
]


def _loaded_after(import_lines: str) -> set[str]:
    code = f"import sys\n{import_lines}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_graph_imports_without_torch_or_qt():
    loaded = _loaded_after("\n".join(f"import {m}" for m in GRAPH_MODULES))
    assert "torch" not in loaded
    assert not any(name.startswith("PySide6") for name in loaded)


def test_runtime_imports_without_qt():
    loaded = _loaded_after("import runtime.build\nimport runtime.cli")
    assert not any(name.startswith("PySide6") for name in loaded)
    assert "torch" in loaded  # runtime.build really builds torch modules
