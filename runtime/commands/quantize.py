"""`deepwire quantize RUN_DIR -o OUT.onnx [--method static|dynamic] [--calibration N] [--keep-float B,...]`.

    deepwire quantize runs/Digits-CNN/Digits-CNN-20261204-120000 -o digits.int8.onnx
    deepwire quantize runs/Sine-LSTM/Sine-LSTM-20261204-120000 --method dynamic -o sine.int8.onnx
    deepwire quantize RUN -o digits.int8.onnx --keep-float scores --json

Post-training INT8 with onnxruntime's quantization tools (runtime/quantize.py):
static (default) calibrates activation ranges on N samples of the run's own
training split; dynamic quantizes weights only and activations per batch.
Prints validation accuracy float vs INT8 on the run's validation split, both
file sizes and the CPU latency per batch (onnxruntime), side by side; --json
prints the same figures as one JSON object instead.

Exit codes: 0 written, 2 the run, the options or the model cannot be quantized
(the message says why; nothing is written).
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_UNUSABLE = 0, 2

EPILOG = """\
methods:
  static   INT8 weights and activations (QDQ, per-channel weights), ranges measured
           on --calibration training samples; the fast one for CNNs and MLPs
  dynamic  INT8 weights of MatMul / Conv / LSTM / Gather, activations quantized per
           batch at run time; the one for recurrent (LSTM) networks

blocks: a block with weights that the method cannot quantize (a GRU with either
method, an LSTM with static) is refused with the reason; --keep-float BLOCK
keeps it (or any block, e.g. a sensitive last layer) in float.

format: onnx only. torch.ao's PT2E flow (--format torch) needs
torch.ao.quantization.quantize_pt2e, which this torch build lacks.

safety: the INT8 file is written under a temporary name beside OUT and renamed
when complete; an existing OUT is replaced only with --force.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'deepwire train'")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the INT8 .onnx file to write")
    parser.add_argument("--method", choices=("static", "dynamic"), default="static",
                        help="static (calibrated, default) or dynamic")
    parser.add_argument("--calibration", type=int, default=256, metavar="N",
                        help="training samples to calibrate static ranges on (default 256)")
    parser.add_argument("--format", choices=("onnx", "torch"), default="onnx", help="what to write (onnx)")
    parser.add_argument("--keep-float", default="", metavar="BLOCK[,BLOCK]",
                        help="blocks to keep in float (by their names on the canvas)")
    parser.add_argument("--project", metavar="PROJECT",
                        help="refuse the run unless it was trained on this project's network")
    parser.add_argument("--onnx", metavar="FLOAT.onnx",
                        help="quantize this float export of the run instead of exporting it afresh "
                             "(checked to compute what the run's network computes)")
    parser.add_argument("--latency-batch", type=int, default=256, metavar="B",
                        help="batch size of the CPU latency figure (default 256)")
    parser.add_argument("--rounds", type=int, default=10, help="timing rounds per model (default 10)")
    parser.add_argument("--threads", type=int, default=1,
                        help="onnxruntime CPU threads for timing (default 1)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runtime.quantize import QuantizeError, quantize_run

    keep = [name.strip() for name in args.keep_float.split(",") if name.strip()]
    try:
        report = quantize_run(Path(args.run_dir), Path(args.output), method=args.method,
                              calibration=args.calibration, fmt=args.format, keep_float=keep,
                              force=args.force,
                              project=Path(args.project) if args.project else None,
                              latency_batch=args.latency_batch, rounds=args.rounds, threads=args.threads,
                              float_onnx=Path(args.onnx) if args.onnx else None)
    except QuantizeError as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        print(json.dumps(report.to_json()))
        return EXIT_OK
    print(f"wrote {report.output} ({report.method} INT8 of network '{report.network}'"
          + (f", calibrated on {report.calibration} training samples" if report.calibration else "") + ")")
    print(report.table())
    if report.blocks:
        print()
        print(report.blocks_table())
    if report.kept_float:
        print(f"kept in float: {', '.join(report.kept_float)}")
    for note in report.notes:
        print(f"note: {note}")
    return EXIT_OK
