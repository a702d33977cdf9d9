"""The digits CNN's robustness with and without adversarial training: accuracy per eps under attack.

    python bench/robustness.py [--out /tmp/deepwire-robustness] [--epochs 15] [--eps 0,0.05,0.1,0.15,0.2]

Trains the bundled digits_cnn twice with the same seed, as `deepwire train`
does: once as shipped, once with adversarial training (PGD, eps 0.1, 3
steps, half of each step's loss from perturbed inputs). Then attacks both
on their validation split with FGSM and 10-step PGD (runtime/adversarial.py)
and prints clean and adversarial accuracy per eps side by side, with the
training times. eps is a fraction of the 0..16 pixel range. Not a timed
target: a figure for the README, measured the way a user measures it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.examples import resolve_project  # noqa: E402
from runtime.adversarial import attack_run  # noqa: E402

ADVERSARIAL = {"adversarial": "pgd", "adversarial_eps": 0.1, "adversarial_steps": 3,
               "adversarial_weight": 0.5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/deepwire-robustness", help="where the runs go")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the example's)")
    parser.add_argument("--eps", default="0,0.05,0.1,0.15,0.2,0.3")
    args = parser.parse_args(argv)
    eps = [float(e) for e in args.eps.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = json.loads(resolve_project("digits_cnn").read_text())
    results = {}
    for name, extra in (("plain", {}), ("pgd-trained", ADVERSARIAL)):
        project = dict(source, name=f"digits-cnn-{name}", training=dict(source["training"], **extra))
        project.pop("id", None)
        path = out / f"{name}.dw.json"
        path.write_text(json.dumps(project, indent=1))
        run = out / name
        command = [sys.executable, "-m", "runtime.cli", "train", str(path), "--out", str(run), "--quiet"]
        if args.epochs:
            command += ["--epochs", str(args.epochs)]
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        curves = {method: {p["eps"]: p["accuracy"] for p in attack_run(run, method, eps)["curve"]}
                  for method in ("fgsm", "pgd")}
        results[name] = {"seconds": seconds, "curves": curves}
    print(f"digits_cnn, validation split; eps as a fraction of the 0..16 pixel range; PGD: 10 steps\n"
          f"training: plain {results['plain']['seconds']:.0f} s, adversarial (PGD eps 0.1, 3 steps) "
          f"{results['pgd-trained']['seconds']:.0f} s (wall, including start-up)")
    print(f"{'eps':>6} | {'plain FGSM':>10} {'plain PGD':>10} | {'robust FGSM':>11} {'robust PGD':>10}")
    for e in eps:
        plain, robust = results["plain"]["curves"], results["pgd-trained"]["curves"]
        print(f"{e:>6g} | {100 * plain['fgsm'][e]:>9.1f}% {100 * plain['pgd'][e]:>9.1f}% | "
              f"{100 * robust['fgsm'][e]:>10.1f}% {100 * robust['pgd'][e]:>9.1f}%")
    (out / "robustness.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
