"""INT8 digits CNN next to its float model: validation accuracy, file size and CPU latency (issue 17).

Targets: validation accuracy of the INT8 model within 1 point of float, latency
<= 0.6x of the float model in onnxruntime on the CPU, file <= 0.3x. One run of
the bundled digits_cnn is trained (`deepwire train`), exported to float ONNX
(`deepwire export --weights`, the reference) and quantized by `deepwire quantize`'s
code (static INT8, QDQ, per-channel weights, calibrated on 256 training samples).
Both models run in alternating rounds in one process, one onnxruntime thread
each, at batch 256 (the judged row) and at batch 1 (information: on 8x8 images
a single sample is too little work for INT8 kernels to pay off).

    python bench/bench_quantize.py [--rounds 30] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.figures import format_table, stats  # noqa: E402

ACCURACY_POINTS = 1.0  # INT8 may lose at most this many points of validation accuracy
LATENCY_RATIO = 0.6
SIZE_RATIO = 0.3
BATCH = 256


def _ratio_row(name: str, what: str, unit: str, measured: list[float], reference: list[float],
               reference_name: str, max_ratio: float) -> dict:
    ratios = [m / r for m, r in zip(measured, reference, strict=True)]
    row = {"name": name, "what": what, "unit": unit, "measured": stats(measured),
           "reference": {"name": reference_name, **stats(reference)},
           "ratio": {"meaning": "time", **stats(ratios)},
           "target": {"text": f"<= {max_ratio:g}x", "on": "ratio", "max": max_ratio}}
    row["passed"] = row["ratio"]["median"] <= max_ratio
    return row


def measure(quick: bool = False, rounds: int | None = None) -> dict:
    from runtime.cli import main
    from runtime.quantize import _session, quantize_run, time_sessions

    rounds = rounds or (10 if quick else 30)
    with tempfile.TemporaryDirectory(prefix="bench-quantize-") as tmp:
        run, float_file, int8_file = Path(tmp) / "run", Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", "digits_cnn", "--epochs", "5", "--out", str(run)]) == 0
            assert main(["export", str(run / "project.dw.json"), "-f", "onnx", "--weights", str(run),
                         "-o", str(float_file)]) == 0
        report = quantize_run(run, int8_file, method="static", calibration=256, float_onnx=float_file,
                              latency_batch=BATCH, rounds=rounds, threads=1)
        # batch 1, for reading: the same two files, the same alternation
        sessions = {"float": _session(float_file, 1), "int8": _session(int8_file, 1)}
        one = np.zeros((1, 1, 8, 8), np.float32)
        single = time_sessions(sessions, "image", one, rounds * 5)

    points = (report.float_metric - report.int8_metric) * 100
    accuracy = {"name": "quantize.accuracy", "unit": "points",
                "what": f"validation accuracy lost by INT8 (float {report.float_metric:.2%}, INT8 "
                        f"{report.int8_metric:.2%}, {report.val_samples} validation samples of the run)",
                "measured": stats([points]), "reference": None, "ratio": None,
                "target": {"text": f"<= {ACCURACY_POINTS:g} point", "on": "measured", "max": ACCURACY_POINTS},
                "passed": points <= ACCURACY_POINTS}
    latency = _ratio_row("quantize.latency", f"INT8 vs float digits CNN, onnxruntime CPU (1 thread), "
                         f"ms per batch of {BATCH}", "ms/batch", report.int8_samples, report.float_samples,
                         "float ONNX", LATENCY_RATIO)
    single_row = _ratio_row("quantize.latency_b1", "the same at batch 1 (information)", "ms/batch",
                            single["int8"], single["float"], "float ONNX", LATENCY_RATIO)
    single_row["passed"] = None  # shown, not judged: the target is for a realistic batch
    size = {"name": "quantize.size", "unit": "KiB",
            "what": "INT8 .onnx file vs the float .onnx that deepwire export writes",
            "measured": stats([report.int8_bytes / 1024]),
            "reference": {"name": "float ONNX", **stats([report.float_bytes / 1024])},
            "ratio": {"meaning": "size", **stats([report.size_ratio])},
            "target": {"text": f"<= {SIZE_RATIO:g}x", "on": "ratio", "max": SIZE_RATIO},
            "passed": report.size_ratio <= SIZE_RATIO}
    details = {"rounds": rounds, "report": report.to_json()}
    return {"rows": [accuracy, latency, single_row, size], "details": details}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(rounds=args.rounds)
    print(format_table(result["rows"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(row["passed"] is not False for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
