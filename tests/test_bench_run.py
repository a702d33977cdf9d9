"""bench/run.py end to end on its quickest benchmark: the table, the JSON file and its Markdown copy.

The figures themselves are not judged here (this machine is shared, and
benchmarks are not timed tests): the test checks that the suite measures,
records and reports them in the form README.md and later runs rely on.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAT_KEYS = {"median", "q1", "q3", "min", "max", "p95", "n"}


@pytest.fixture(scope="module")
def quick_graph_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "figures.json"
    done = subprocess.run([sys.executable, "bench/run.py", "--quick", "--only", "graph", "--json", str(out),
                           "--no-fail"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done, out


def test_quick_run_writes_the_figures_as_json(quick_graph_run):
    done, out = quick_graph_run
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert re.fullmatch(r"[0-9a-f]{40}", report["git"]["commit"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", report["date"])
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["memory_gib"] > 0 and machine["cpu"]
    assert machine["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert machine["torch"] and machine["PySide6"] and isinstance(machine["gpu"], list)

    assert list(report["benchmarks"]) == ["graph"]
    graph = report["benchmarks"]["graph"]
    assert graph["status"] == "ok" and graph["seconds"] > 0
    assert [row["name"] for row in graph["rows"]] == ["graph.param_edit", "graph.wire_edit"]
    for row in graph["rows"]:
        assert set(row["measured"]) == STAT_KEYS and row["measured"]["n"] == 40
        assert 0 < row["measured"]["min"] <= row["measured"]["median"] <= row["measured"]["max"]
        assert row["reference"]["name"] == "full analysis from scratch" and row["reference"]["median"] > 0
        assert row["ratio"]["meaning"] == "time" and row["ratio"]["median"] > 0
        assert row["target"] == {"text": "< 16 ms", "on": "measured", "max": 16.0}
        assert row["passed"] is (row["measured"]["median"] < 16.0)
    assert graph["details"]["blocks"] >= 990
    assert report["passed"] is all(row["passed"] for row in graph["rows"])


def test_quick_run_prints_the_table_and_a_markdown_copy(quick_graph_run):
    done, out = quick_graph_run
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("benchmark "))
    assert "reference: median" in lines[header] and "result" in lines[header]
    for name, line in zip(("graph.param_edit", "graph.wire_edit"), lines[header + 2:header + 4]):
        assert line.startswith(name) and re.search(r"ms \(full analysis from scratch\)", line)
        assert line.rstrip().endswith(("PASS", "FAIL"))
    assert any(line.startswith("machine: ") and "cores" in line for line in lines)
    table = out.with_suffix(".md").read_text()
    assert "| `graph.param_edit` |" in table and "| `graph.wire_edit` |" in table
    assert "--quick" in table and "cores" in table


def test_unknown_benchmark_is_refused_with_the_names_to_choose_from(tmp_path):
    done = subprocess.run([sys.executable, "bench/run.py", "--only", "graphs", "--json",
                           str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown benchmark graphs" in done.stderr and "studio_train" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_optional_module_missing_is_reported_not_a_crash(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    run = importlib.import_module("bench.run")
    assert run.run_one("extra", "bench_not_written_yet", False, True)["status"] == "not present"
    missing = run.run_one("extra", "bench_not_written_yet", True, True)
    assert missing["status"] == "error" and "bench/bench_not_written_yet.py is missing" in missing["error"]


def test_plain_figures_from_a_module_become_information_rows(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    run = importlib.import_module("bench.run")
    rows, details = run.normalise("gpu", {"samples_per_s": 1234.5, "amp": True, "device": "cuda"})
    assert [(r["name"], r["measured"]["median"], r["passed"]) for r in rows] == [("gpu.samples_per_s", 1234.5,
                                                                                   None)]
    assert details["device"] == "cuda"
    with pytest.raises(ValueError, match="lacks"):
        run.normalise("gpu", {"rows": [{"name": "gpu.x"}]})


def test_ratios_read_as_speed_and_pass_on_the_median(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    figures = importlib.import_module("bench.figures")
    # times: DeepWire takes twice the reference's time in every round -> half the speed
    slow = figures.speed_row("x", "x", "ms", [2.0, 2.2, 1.8], [1.0, 1.1, 0.9], "ref", 0.98, False)
    assert slow["ratio"]["median"] == 0.5 and slow["passed"] is False
    # rates: samples/s equal in the median round -> passes at 0.98
    even = figures.speed_row("y", "y", "samples/s", [100, 90, 120], [100, 100, 100], "ref", 0.98, True)
    assert even["ratio"]["median"] == 1.0 and even["passed"] is True
    budget = figures.budget_row("z", "z", "ms", [10, 20, 30], 16.0, [5, 10, 10], "bare")
    assert budget["measured"]["median"] == 20 and budget["passed"] is False
    assert budget["ratio"]["median"] == 2.0 and budget["ratio"]["meaning"] == "time"
    calls = []
    samples = figures.interleave({"a": lambda: calls.append("a") or 1.0,
                                  "b": lambda: calls.append("b") or 2.0}, 3)
    assert samples == {"a": [1.0] * 3, "b": [2.0] * 3}
    assert calls == ["a", "b", "b", "a", "a", "b"]  # the order turns every round: drift hits both alike


def test_a_module_without_measure_is_an_error_in_its_row_not_a_crash(monkeypatch, tmp_path, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    run = importlib.import_module("bench.run")
    out = tmp_path / "child.json"
    assert run._child("figures", True, out) == 1  # bench/figures.py is a module with no measure()
    error = "TypeError: bench/figures.py has no measure(quick) function"
    assert json.loads(out.read_text()) == {"error": error}
    assert "Traceback" in capsys.readouterr().err
