"""`deepwire export PROJECT --format FORMAT -o OUT`: write the model out, then prove it matches.

After writing, every artefact is loaded back the way a user would load it
and run on one random batch next to the in-app model with the same weights;
the largest difference is printed. When a file's outputs differ, every
block's value is compared too (runtime/parity.py) and the first block whose
value departs from the model's is named; --explain prints that per-block table
for every file. Exit codes: 0 written and matching,
1 the project has errors, the export failed or the outputs differ,
2 the project (or weights file) could not be read, or the output may not be written
(see runtime/export_targets.py).
"""

from __future__ import annotations

import argparse
import sys

from runtime.commands.check import EXIT_ERRORS, EXIT_OK, EXIT_UNREADABLE, open_project

FORMATS = ("python", "script", "onnx", "torch-export")

EPILOG = """\
formats:
  python        the model module: one nn.Module class per network (plain PyTorch)
  script        a standalone training script (needs only torch and the data)
  onnx          an ONNX graph per network, batch dimension free (named "batch")
  torch-export  a torch.export program per network (.pt2; torch.export.load)

file names: formats with one file per network (onnx, torch-export) write OUT
itself for a one-network project or with --network, and <stem>.<network><suffix>
beside OUT otherwise: -o gan.onnx writes gan.generator.onnx and
gan.discriminator.onnx. With --weights, the python format also writes the
weights beside the code as <stem>.pt (<stem>.<network>.pt for several networks),
a state_dict to load with torch.load(path, weights_only=True). The script format
writes the training data beside the script as <stem>.npz.

preprocessing: a checkpoint from 'deepwire train' records how its data was
prepared (input mean and std, class names, vocabulary); the python format adds
them after the classes as MEAN, STD, CLASSES or VOCAB with preprocess() and
predict() helpers, onnx as metadata_props, torch-export as deepwire.json in the
archive. A model whose outputs are NaN or infinite cannot be checked: the
check names the first block that produces such values.

per-block check: when a file's outputs differ from the in-app model's, each
block's value is compared as well (ONNX and torch.export through a temporary
copy of the file that also outputs every block; the python file's own
forward), and the first block outside tolerance is named with its difference:
the blocks before it match. Tolerance per value dtype, |got - want| <= atol +
rtol * |want|: float32 and float64 rtol 1e-4 atol 1e-4, float16 2e-3 and 2e-3,
bfloat16 1.6e-2 and 1e-2; integer values must be equal. --explain prints the
table (block, type, shape, max abs diff, max rel diff, ok) for every file.

safety: an export never writes over the project, its data or the weights it
reads, never writes two networks to one file, never makes folders, and
replaces other existing files only with --force. Each file is written under a
temporary name and renamed when complete, so an interrupted export leaves the
previous file as it was.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("project", help="a .dw.json project file, or the name of a bundled example")
    parser.add_argument("--format", "-f", choices=FORMATS, default="python",
                        help="what to write (default: python)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the file to write")
    parser.add_argument("--weights", metavar="RUN_OR_FILE",
                        help="trained weights to export instead of a fresh initialisation: a run folder "
                             "of 'deepwire train' (its best.pt), a checkpoint, a state_dict .pt file or "
                             ".safetensors; a run trained on another network is refused")
    parser.add_argument("--network", metavar="NAME", help="export only this network (e.g. generator)")
    parser.add_argument("--opset", type=int, metavar="N",
                        help="ONNX opset to write (onnx format; default: the exporter's own); below 18 "
                             "torch's TorchScript exporter writes it (deploy targets onnx13, onnx17)")
    parser.add_argument("--explain", action="store_true",
                        help="compare every block's value too and print the per-block table (block, type, "
                             "shape, max abs diff, max rel diff, ok); slower: the file is exported once more")
    parser.add_argument("--force", action="store_true",
                        help="replace files that already exist (never the project, its data or the weights "
                             "being exported)")


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry
    from graph.validate import analyse

    registry = default_registry()
    opened = open_project(args.project, registry)
    if opened is None:
        return EXIT_UNREADABLE
    project, project_path = opened
    errors = [d for net in project.networks for d in analyse(net, registry).diagnostics if d.is_error]
    if errors:
        print(f"deepwire: project '{project.name}' has {len(errors)} error(s); fix them first:",
              file=sys.stderr)
        for d in errors[:10]:
            print(f"  {d}", file=sys.stderr)
        print(f"(run 'deepwire check {args.project}' for the whole picture)", file=sys.stderr)
        return EXIT_ERRORS

    from runtime.data import DataError
    from runtime.errors import SetupError
    from runtime.export import ExportError
    from runtime.export_project import export_project, verify_export
    from runtime.export_targets import ExportTargetError

    try:
        exported = export_project(project, registry, args.format, args.output, args.weights, args.network,
                                  force=args.force, project_path=project_path, opset=args.opset)
    except (SetupError, DataError, ExportTargetError) as err:  # weights, data (script format), targets
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    except ExportError as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_ERRORS
    except OSError as err:  # a full or read-only disk: every file is written whole or not at all
        print(f"deepwire: {args.output}: the export could not be written ({err.strerror or err}); files "
              "that were there are unchanged", file=sys.stderr)
        return EXIT_ERRORS
    for artefact in exported.artefacts:
        which = f" (network '{artefact.network}')" if artefact.network else ""
        print(f"wrote {artefact.path}{which}")
    if exported.preprocessing is not None:
        where = {"python": f"the constants and helpers at the end of {args.output}",
                 "onnx": "the .onnx files' metadata_props", "torch-export": "deepwire.json inside the .pt2"}
        print(f"the run's preprocessing travels with it ({exported.preprocessing.summary()}): "
              f"see {where[exported.format]}")
    for note in exported.notes:
        print(f"note: {note}")

    try:
        comparisons = verify_export(exported, explain=args.explain)
    except Exception as err:  # any failure to load an artefact back means the export is not usable
        print(f"deepwire: the exported file could not be loaded back to check it: {err}", file=sys.stderr)
        return EXIT_ERRORS
    status = EXIT_OK
    for c in comparisons:
        if c.nonfinite:
            status = EXIT_ERRORS
            print(f"deepwire: {c.path}: written, but {c.nonfinite}", file=sys.stderr)
        elif c.note:
            print(f"{c.network}: {c.note}")
        elif c.ok:
            print(f"{c.network}: matches the in-app model (max abs difference {c.max_abs_diff:.2e})")
        else:
            status = EXIT_ERRORS
            where = f"; {c.blocks.message()}" if c.blocks is not None else ""
            print(f"deepwire: {c.path}: network '{c.network}' gives different outputs from the in-app model "
                  f"(max abs difference {c.max_abs_diff:.3g}){where}; please report this as a bug",
                  file=sys.stderr)
        if c.block_note:
            print(f"{c.network}: {c.block_note}", file=sys.stderr if not c.ok else sys.stdout)
        if args.explain and c.blocks is not None:
            print(f"per-block check of {c.path} (network '{c.network}'):")
            print(c.blocks.table())
            if c.ok and c.first_divergence is not None:  # the outputs match, within their tolerance
                print(f"note: the outputs match, but {c.blocks.message()}")
        elif args.explain and not c.nonfinite and not c.note and not c.block_note:
            print(f"{c.path}: no per-block check for this format")
    return status
