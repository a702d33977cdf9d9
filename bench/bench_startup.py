"""Studio start-up: from spawning `deepwire` to the main window's first paint.

Target (issue 4): the window is usable within 1.5 s of launch, so the
studio must not import torch on the way (`import torch` alone costs about
as much). Each round spawns, in interleaved order so machine load hits all
alike:

  python      `python -c pass`: the interpreter's own start, the floor
  torch       `python -c "import torch"`: what importing torch costs here
  studio      `python -m studio.launcher` on the bundled digits CNN, offscreen,
              with DEEPWIRE_EXIT_AFTER_PAINT=1: it prints one line as soon as
              the window's first paint is done, then quits
  deepwire    the installed console script, the same way (when installed)

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    variants = {
        "python": (time_plain, [sys.executable, "-c", "pass"]),
        "torch": (time_plain, [sys.executable, "-c", "import torch"]),
        "studio": (time_studio, [sys.executable, "-m", "studio.launcher"]),
    }
    script = deepwire_script()
    if script:
        variants["deepwire"] = (time_studio, [script])
    time_studio(variants["studio"][1])  # warm the disk cache once, untimed
    results: dict[str, list[dict]] = {name: [] for name in variants}
    for round_no in range(args.rounds):
        names = list(variants)
        names = names[round_no % len(names):] + names[: round_no % len(names)]  # rotate the order
        for name in names:
            fn, command = variants[name]
            results[name].append(fn(command))

    print(f"start-up over {args.rounds} interleaved rounds (median, min-max, ms); cores: {os.cpu_count()}")
    summary = {}
    for name, runs in results.items():
        key = "paint_ms" if "paint_ms" in runs[0] else "exit_ms"
        values = [r[key] for r in runs]
        summary[name] = {"metric": key, "median": statistics.median(values), "min": min(values),
                         "max": max(values), "runs": runs}
        extra = ""
        if key == "paint_ms":
            inside = statistics.median(r["inside_ms"] for r in runs)
            extra = (f"   (inside the launcher {inside:.0f}; to exit "
                     f"{statistics.median(r['exit_ms'] for r in runs):.0f}; "
                     f"torch imported: {any(r['torch'] for r in runs)})")
        print(f"  {name:9s} {key[:-3]:5s} {summary[name]['median']:6.0f}  "
              f"{summary[name]['min']:5.0f}-{summary[name]['max']:.0f}{extra}")
    studio = summary["studio"]
    ok = studio["median"] < TARGET_MS and not any(r["torch"] for r in studio["runs"])
    print(f"target: window painted within {TARGET_MS:.0f} ms, without torch -> {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
