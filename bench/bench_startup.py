"""Studio start-up: from spawning `deepwire` to the main window's first paint.

Target (issue 4): the window is usable within 1.5 s of launch, so the
studio must not import torch on the way (`import torch` alone costs about
as much). Each round spawns, in rotating order so machine load hits all
alike:

  bare        bench/bare_window.py: an empty PySide6 QMainWindow to its first paint,
              the reference (what any Qt app pays on this machine)
  python      `python -c pass`: the interpreter's own start, the floor
  torch       `python -c "import torch"`: what importing torch costs here (not --quick)
  studio      `python -m studio.launcher` on the bundled digits CNN, offscreen,
              with DEEPWIRE_EXIT_AFTER_PAINT=1: it prints one line as soon as
              the window's first paint is done, then quits
  deepwire    the installed console script, the same way (when installed; not --quick)

For the studio rows, "paint" is the wall time from spawn until that line
arrives (what a user waits for); "exit" includes tearing the app down.

    python bench/bench_startup.py [--rounds 7] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import budget_row, format_table, interleave  # noqa: E402

TARGET_MS = 1500.0


def _env() -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DEEPWIRE_EXIT_AFTER_PAINT": "1"}


def deepwire_script() -> str | None:
    """The console script pip installed (not a pyenv shim, whose bash wrapper is not ours to time)."""
    script = Path(sysconfig.get_path("scripts")) / "deepwire"
    return str(script) if script.is_file() else shutil.which("deepwire")


def time_plain(args: list[str]) -> dict:
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=_env(), check=True, capture_output=True)
    return {"exit_ms": (time.perf_counter() - start) * 1000}


def time_studio(args: list[str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = ""
    for line in proc.stdout:  # the launcher prints "startup_ms=... torch=..." after the first paint
        if line.startswith("startup_ms="):
            break
    painted = (time.perf_counter() - start) * 1000
    _out, err = proc.communicate(timeout=60)
    exited = (time.perf_counter() - start) * 1000
    if not line.startswith("startup_ms="):
        raise RuntimeError(f"{' '.join(args)} never reported its first paint:\n{err[-2000:]}")
    fields = dict(part.split("=") for part in line.split())
    return {"paint_ms": painted, "exit_ms": exited, "inside_ms": float(fields["startup_ms"]),
            "torch": fields["torch"] == "True"}


def measure(quick: bool = False, rounds: int | None = None) -> dict:
    """Rows for bench/run.py: the studio's first paint against the bare PySide6 window's (budget
    1.5 s, without torch), and the installed `deepwire` script's; floors in details."""
    rounds = rounds or (3 if quick else 9)
    variants = {
        "bare": (time_studio, [sys.executable, str(ROOT / "bench" / "bare_window.py")]),
        "studio": (time_studio, [sys.executable, "-m", "studio.launcher"]),
        "python": (time_plain, [sys.executable, "-c", "pass"]),
    }
    if not quick:  # seconds a round, and it does not change when DeepWire does
        variants["torch"] = (time_plain, [sys.executable, "-c", "import torch"])
        script = deepwire_script()
        if script:
            variants["deepwire"] = (time_studio, [script])
    time_studio(variants["studio"][1])  # warm the disk cache once, untimed
    time_studio(variants["bare"][1])
    runs = interleave({name: (lambda fn=fn, command=command: fn(command))
                       for name, (fn, command) in variants.items()}, rounds)

    def first(name: str) -> list[float]:
        key = "paint_ms" if "paint_ms" in runs[name][0] else "exit_ms"
        return [r[key] for r in runs[name]]

    torch_seen = any(r["torch"] for r in runs["studio"])
    window = budget_row("startup.window", "`python -m studio.launcher` to the main window's first paint "
                        "(digits CNN open; offscreen)", "ms", first("studio"), TARGET_MS,
                        first("bare"), "bare PySide6 QMainWindow")
    window["torch_imported"] = torch_seen
    if torch_seen:
        window["passed"] = False
        window["what"] += " - FAILED: torch was imported before the first paint"
    rows = [window]
    if "deepwire" in runs:
        script = budget_row("startup.script", "the installed `deepwire` script, the same way", "ms",
                            first("deepwire"), None, first("bare"), "bare PySide6 QMainWindow")
        rows.append(script)
    details = {"rounds": rounds}
    for name in runs:
        details[f"{name}_median_ms"] = round(statistics.median(first(name)), 1)
    details["studio_inside_launcher_median_ms"] = statistics.median(r["inside_ms"] for r in runs["studio"])
    return {"rows": rows, "details": details}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    result = measure(rounds=args.rounds)
    print(f"start-up over {args.rounds} interleaved rounds; cores: {os.cpu_count()}")
    print(format_table(result["rows"]))
    print(result["details"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["rows"][0]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
