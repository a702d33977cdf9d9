"""Every speed target of DeepWire in one run, each beside its reference, as one table and one JSON file.

    python bench/run.py                 the full suite (3-7 minutes on 2 shared cores)
    python bench/run.py --quick         fewer rounds (1.5-2 minutes): a smoke check of the figures
    python bench/run.py --only graph,codegen --json /tmp/bench.json --no-fail

Each benchmark (bench/bench_*.py, listed in BENCHMARKS) runs in a child
process of its own, so one crashing, leaking memory or setting torch's
thread count cannot touch the next; its module's `measure(quick) -> dict`
returns rows in the format of bench/figures.py. Inside a benchmark, DeepWire
and its reference alternate round by round, so drift of a shared machine
hits both alike and the ratios stay meaningful even when absolute figures
swing. The table shows, per target: DeepWire's median and interquartile
range, the reference's median, their ratio, the target and PASS / FAIL
(rows marked "info" are shown for reading, not judged). The JSON file
(default bench/results/latest.json, with a Markdown copy of the table beside
it) also records the machine, the date, the git commit and each benchmark's
details. Exit status 1 when a target is missed or a benchmark broke (0 with
--no-fail), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import format_markdown, format_table  # noqa: E402

# (name for --only, module in bench/, required): in run order, the quickest first. An optional
# module that is not there is reported as "not present"; adding a benchmark is adding a line here.
BENCHMARKS = [
    ("graph", "bench_graph", True),
    ("codegen", "bench_codegen", True),
    ("import", "bench_import", True),
    ("train", "bench_train", True),
    ("canvas", "bench_canvas", True),
    ("canvas10k", "bench_canvas_10k", True),  # issue 16: a 10,000-block project
    ("startup", "bench_startup", True),
    ("studio_train", "bench_studio_train", True),
    ("data", "bench_data", True),
    ("gpu", "bench_gpu", False),
    ("data_csv", "bench_data_csv", True),  # issue 15: big CSV tables (flat memory, samples/s vs pandas)
    ("quantize", "bench_quantize", True),  # issue 17: INT8 digits CNN vs float (accuracy, latency, size)
]
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
TIMEOUT_S = {True: 300, False: 1200}  # per benchmark, by --quick: a hung child must not hang the suite
ROW_KEYS = {"name", "what", "unit", "measured", "reference", "ratio", "target", "passed"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        return _child(args.child, args.quick, Path(args.child_out))
    names = [name for name, _module, _required in BENCHMARKS]
    chosen = names if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown or not chosen:
        print(f"bench/run.py: unknown benchmark {', '.join(unknown) or '(none given)'}; "
              f"choose from: {', '.join(names)}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    report = {"suite": "DeepWire speed targets", "quick": args.quick,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)]),
              "git": git_state(), "machine": machine(), "benchmarks": {}}
    for name, module, required in BENCHMARKS:
        if name in chosen:
            report["benchmarks"][name] = run_one(name, module, required, args.quick)
    report["seconds"] = round(time.perf_counter() - started, 1)
    rows = [row for result in report["benchmarks"].values() for row in result.get("rows", [])]
    broken = {n: r for n, r in report["benchmarks"].items() if r["status"] == "error"}
    report["passed"] = not broken and all(row["passed"] is not False for row in rows)

    print()
    print(format_table(rows) if rows else "(no figures)")
    for name, result in report["benchmarks"].items():
        if result["status"] not in ("ok",):
            print(f"{name}: {result['status']}" + (f" - {result['error']}" if result.get("error") else ""))
    report["load_average"] = load_range(report)
    print(f"\nmachine: {describe(report['machine'])}")
    if report["load_average"]:
        print(f"load average (1 min) during the run: {report['load_average']} on {os.cpu_count()} cores "
              "(other processes share them: absolute figures swing, ratios much less)")
    print(f"commit {report['git']['commit'][:12]}{' (uncommitted changes)' if report['git']['dirty'] else ''}"
          f", {report['date']}, {report['seconds']:.0f} s, {'--quick' if args.quick else 'full run'}")
    failed = [row["name"] for row in rows if row["passed"] is False] + list(broken)
    print("all targets met" if not failed else f"missed or broken: {', '.join(failed)}")

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report, rows))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0 if report["passed"] or args.no_fail else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: about 1-2 minutes in all")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help="run these benchmarks only: " + ", ".join(n for n, _m, _r in BENCHMARKS))
    parser.add_argument("--json", default=str(DEFAULT_JSON), metavar="PATH",
                        help=f"where to write the figures (default {DEFAULT_JSON.relative_to(ROOT)}); "
                             "a Markdown table goes beside it (.md)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one benchmark module
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    return parser


def run_one(name: str, module: str, required: bool, quick: bool) -> dict:
    """One benchmark in a child process, its output echoed with a prefix as it comes."""
    if importlib.util.find_spec(f"bench.{module}") is None:
        status = "error" if required else "not present"
        return {"status": status, "module": f"bench/{module}.py", "rows": [],
                "error": f"bench/{module}.py is missing" if required else None}
    print(f"== {name} (bench/{module}.py{', quick' if quick else ''})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", module, "--child-out", str(out)]
        command += ["--quick"] if quick else []
        load_before = _load()
        start = time.perf_counter()
        tail = _stream(name, command, TIMEOUT_S[quick])
        seconds = round(time.perf_counter() - start, 1)
        result = json.loads(out.read_text()) if out.is_file() else None
    base = {"module": f"bench/{module}.py", "seconds": seconds, "load_average_before": load_before,
            "load_average_after": _load()}
    if isinstance(tail, TimeoutError):
        return {**base, "status": "error", "rows": [], "error": str(tail)}
    if result is None or "error" in result:
        why = result["error"] if result else "it ended without figures"
        return {**base, "status": "error", "rows": [], "error": why, "output_tail": tail}
    try:
        rows, details = normalise(name, result["figures"])
    except (KeyError, TypeError, ValueError) as err:
        return {**base, "status": "error", "rows": [], "error": f"figures not understood: {err}",
                "figures": result["figures"]}
    if not rows and isinstance(details, dict) and details.get("skipped"):
        return {**base, "status": f"skipped: {details['skipped']}", "rows": [], "details": details}
    return {**base, "status": "ok", "rows": rows, "details": details}


def _stream(name: str, command: list[str], timeout: float):
    """Run the child, echoing its lines as `  [name] ...`; the last lines (or a TimeoutError)."""
    paths = [str(ROOT), os.environ.get("PYTHONPATH")]  # this checkout's code, whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")  # a GUI benchmark on a machine without a screen
    lines: list[str] = []
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        # a child that hangs silently would block the reading loop: a timer kills it at the limit
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            for line in proc.stdout:
                lines.append(line.rstrip())
                print(f"  [{name}] {line.rstrip()}", flush=True)
            proc.wait()
        finally:
            killed = not watchdog.is_alive()
            watchdog.cancel()
    if killed:
        return TimeoutError(f"stopped after {timeout} s (the limit for one benchmark)")
    return "\n".join(lines[-30:])


def _child(module: str, quick: bool, out: Path) -> int:
    """Inside the child: import the module, call measure(quick), write what it returned."""
    try:
        bench = importlib.import_module(f"bench.{module}")
        if not callable(getattr(bench, "measure", None)):
            raise TypeError(f"bench/{module}.py has no measure(quick) function")
        figures = bench.measure(quick=quick)
        out.write_text(json.dumps({"figures": figures}, default=_plain))
        return 0
    except BaseException as err:  # reported in the table; the suite goes on with the next benchmark
        import traceback
        traceback.print_exc()
        out.write_text(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 1


def _plain(value):
    """JSON for what a benchmark may hand back beside plain numbers (numpy scalars, paths)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def normalise(name: str, figures) -> tuple[list[dict], dict]:
    """(rows, details) from what a benchmark returned: rows in bench/figures.py's format as they are;
    a plain dict of figures (a module written without that format) becomes one information row per
    top-level number, so nothing it measured is lost from the table."""
    if not isinstance(figures, dict):
        raise TypeError(f"measure() returned a {type(figures).__name__}, not a dict")
    if "rows" in figures:
        for row in figures["rows"]:
            missing = ROW_KEYS - set(row)
            if missing:
                raise ValueError(f"row {row.get('name', '?')} lacks {', '.join(sorted(missing))}")
        return figures["rows"], figures.get("details", {})
    rows = []
    for key, value in figures.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            single = {k: float(value) for k in ("median", "q1", "q3", "min", "max", "p95")} | {"n": 1}
            rows.append({"name": f"{name}.{key}", "what": f"{key} (as bench/{name} reports it)", "unit": "",
                         "measured": single, "reference": None, "ratio": None, "target": None,
                         "passed": None})
    return rows, figures


def load_range(report: dict) -> str | None:
    """The 1-minute load average's lowest and highest reading around the benchmarks, e.g. "0.3-2.1"."""
    loads = [b[key][0] for b in report["benchmarks"].values()
             for key in ("load_average_before", "load_average_after") if b.get(key)]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else None


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"commit": git("rev-parse", "HEAD") or "unknown",
            "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def machine() -> dict:
    """What the figures came from: CPU, cores, memory, OS, Python and the libraries that set the pace."""
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "memory_gib": _memory_gib(), "os": platform.platform(), "python": platform.python_version()}
    for package in ("torch", "PySide6", "numpy"):
        info[package] = _version(package)
    info["gpu"] = _gpus()
    return info


def describe(m: dict) -> str:
    gpu = ", ".join(m["gpu"]) if m["gpu"] else "no GPU"
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {gpu}; {m['os']}; "
            f"Python {m['python']}, torch {m['torch']}, PySide6 {m['PySide6']}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(package: str) -> str | None:
    from importlib import metadata
    for dist in (package, f"{package}-Essentials"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _gpus() -> list[str]:
    """GPU names from nvidia-smi (torch is not imported here: it costs seconds and this process
    measures nothing itself)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def markdown(report: dict, rows: list[dict]) -> str:
    """The table as README.md shows it, with the machine and the command."""
    mode = "--quick" if report["quick"] else "full run"
    load = (f" Load average {report['load_average']} during the run (the cores were shared)."
            if report.get("load_average") else "")
    return (f"Figures of `{report['command']}` ({mode}), {report['date'][:10]}, commit "
            f"`{report['git']['commit'][:12]}`, on: {describe(report['machine'])}.{load}\n\n"
            f"{format_markdown(rows)}\n")


if __name__ == "__main__":
    sys.exit(main())
