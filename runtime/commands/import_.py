"""`deepwire import MODEL -o PROJECT`: open a model made elsewhere as a DeepWire project.

MODEL is FILE.py:NAME (an nn.Module class, or a function returning one),
FILE.py (its only model, or every network of a file DeepWire exported),
package.module:NAME, torchvision:resnet18, or FILE.onnx. Prints what each
operation became, the problems (operations with no DeepWire block, kept as
Unsupported blocks), and how closely the imported model's outputs match the
original's with the imported weights. Exit codes: 0 imported and matching,
1 imported with problems (or outputs that differ), 2 nothing could be imported.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_PROBLEMS, EXIT_FAILED = 0, 1, 2

EPILOG = """\
examples:
  deepwire import model.py:SmallNet --input-shape 1,28,28 -o small.dw.json
  deepwire import exported.py -o again.dw.json     (code DeepWire exported: shapes and heads known)
  deepwire import torchvision:resnet18 -o resnet.dw.json   (needs torchvision)
  deepwire import model.onnx -o from_onnx.dw.json          (needs the onnx package)

Importing a .py file RUNS it, like any Python import: only import code you trust.
The weights come along in <project>.weights.pt, and the project's init_checkpoint
points at them, so 'deepwire train PROJECT' fine-tunes from them.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("model", help="FILE.py[:NAME], package.module:NAME, torchvision:NAME or FILE.onnx")
    parser.add_argument("-o", "--output", required=True, metavar="PROJECT",
                        help="the project file to write (.dw.json), or a folder for it")
    parser.add_argument("--input-shape", action="append", default=[], metavar="[NAME=]SIZES",
                        help="input sizes without the batch, e.g. 1,28,28; repeat as NAME=SIZES for "
                             "several inputs (not needed for code DeepWire exported, or ONNX files)")
    parser.add_argument("--head", choices=("classification", "binary", "regression", "output"),
                        help="the output head for every output (default: from make_loss() when the code "
                             "has one, else a plain Output)")
    parser.add_argument("--flat", action="store_true",
                        help="every call a plain block: do not make the model's module classes (a ResNet's "
                             "BasicBlock) into block definitions")
    parser.add_argument("--weights", metavar="STATE_DICT",
                        help="load these weights (a state_dict .pt or .safetensors) into the model first")


def _print_report(report, out=None) -> None:
    out = out or sys.stdout
    for net in report.networks:
        total = sum(net.blocks.values())
        print(f"network '{net.name}' from {net.source}: {total} blocks", file=out)
        width = max(len(t) for t in net.blocks)
        for type_id, count in sorted(net.blocks.items(), key=lambda item: (-item[1], item[0])):
            print(f"  {type_id:<{width}}  {count}", file=out)
        if net.problems:
            print(f"  problems ({len(net.problems)}): these operations have no DeepWire block and became "
                  "Unsupported blocks; replace or remove them before training", file=out)
            for problem in net.problems:
                print(f"    - {problem}", file=out)
        for error in net.errors:
            print(f"  problem: {error}", file=out)
        if net.max_abs_diff is not None and net.max_abs_diff != net.max_abs_diff:  # NaN: not compared
            print("  outputs not compared with the original", file=out)
        elif net.max_abs_diff is not None:
            verdict = "match" if net.matches else "DIFFER from"  # within 1e-4 absolute + 1e-4 relative
            print(f"  outputs {verdict} the original: largest difference {net.max_abs_diff:.2e} "
                  "on a random batch, imported weights loaded", file=out)
        else:
            print("  outputs not compared: the network does not compile until its problems are fixed",
                  file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    print(f"wrote {report.project_path}", file=out)
    print(f"wrote {report.weights_path} (the imported weights; training starts from them)", file=out)


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry
    from runtime.importing.fx_import import ModelImportError
    from runtime.importing.importer import run_import
    from runtime.weights_file import WeightsFileError

    try:
        report = run_import(args.model, args.output, default_registry(), args.input_shape, args.head,
                            args.weights, flat=args.flat)
    except ModelImportError as err:
        print(f"deepwire: cannot import {args.model}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except WeightsFileError as err:
        print(f"deepwire: --weights {err}", file=sys.stderr)
        return EXIT_FAILED  # 2: the file could not be read
    except OSError as err:  # the project or weights file cannot be written
        print(f"deepwire: cannot import {args.model}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # noqa: BLE001 - the user's model code runs here: never a traceback
        reason = str(err).splitlines()[0] if str(err) else ""
        print(f"deepwire: cannot import {args.model}: {type(err).__name__}: {reason} (the importer "
              "stopped here; please report it with the model)", file=sys.stderr)
        return EXIT_FAILED
    _print_report(report)
    if not report.ok:
        print(f"deepwire: imported with problems; open {report.project_path} (deepwire check, or the studio) "
              "to fix them", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK
