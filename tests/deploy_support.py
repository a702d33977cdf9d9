"""Derives graph/deploy_support.json: which block types really export to each deploy target.

    python -m tests.deploy_support --write        # regenerate the committed file
    python -m tests.deploy_support                # derive and compare with it (exit 1 if it differs)
    python -m tests.deploy_support GELU Mish      # only these types, printed

Every block type of the catalog is built by the block harness (tests/block_harness.py) in a
one-block network from its first good case in tests/cases, with fixed seeds, then:

  onnx13, onnx17  runtime.export.export_onnx(opset=N), as `deepwire export --format onnx --opset N`
                  writes it (torch's TorchScript exporter below opset 18); supported when the file
                  really has opset N (were it written by the torch.export-based exporter, which keeps
                  its own opset when conversion fails, the reason is the ONNX version converter's)
                  and onnxruntime's output matches the model's within the float32 tolerance of
                  runtime/parity.py
  onnx            the same at the exporter's own opset, as `deepwire export --format onnx` writes it
  torch-export    runtime.export.export_torch_program, saved, loaded back, run, compared
  int8            that ONNX file planned (runtime.quantize.plan_blocks: recurrent blocks refused) and
                  quantized as `deepwire quantize` does (static QDQ, per-channel INT8), calibrated on
                  32 random samples, run in onnxruntime and compared within INT8_TOLERANCE

Each choice parameter's other values and each bool parameter's other value are tried on the
same case; where a target's result differs, the entry records it under "variants".
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tests.cases as cases_pkg
from graph.blocks import default_registry
from graph.compiler import compile_network
from graph.deploy import REGENERATE, SUPPORT_FILE, TARGETS
from graph.spec import Registry
from graph.validate import analyse
from runtime.build import load_source
from runtime.export import ExportError, export_onnx, export_torch_program, quiet_exporters
from runtime.parity import INT8_TOLERANCE, compare_value
from tests.block_harness import _input_shape_of, one_block_network, sample_input

CALIBRATION = 32
PLACEHOLDER = "a placeholder for a layer an import could not translate: it never builds"
FORMAT = "deepwire-deploy-support"


def representative_cases() -> dict[str, Any]:
    """type id -> its first good case in tests/cases."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(cases_pkg.__path__):
        for c in importlib.import_module(f"tests.cases.{info.name}").CASES:
            if c.error is None:
                found.setdefault(c.type_id, c)
    return found


def modes_of(spec, params: dict[str, Any]) -> dict[str, Any]:
    """The choice and bool parameters of a case, defaults filled in."""
    full = spec.check_params(params)
    return {p.name: full[p.name] for p in spec.params if p.kind in ("choice", "bool")}


def variants_of(spec, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """("name=value", params) for every other value of each choice and bool parameter."""
    out = []
    for name, value in modes_of(spec, params).items():
        choices = spec.param(name).choices if spec.param(name).kind == "choice" else (True, False)
        for other in choices:
            if other != value:
                out.append((f"{name}={other}", {**params, name: other}))
    return out


def _first_line(err: BaseException, after: str = "") -> str:
    text = str(err).strip()
    if after and after in text:
        text = text.split(after, 1)[1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(err).__name__
    return line.split(" [Caused by", 1)[0].strip()[:200]  # the TorchScript exporter appends its IR


def _build(registry: Registry, type_id: str, params: dict, inputs: dict):
    """(model in eval mode, compiled info, example inputs) or None when the case does not build."""
    net = one_block_network(registry, type_id, params, inputs)
    analysis = analyse(net, registry)
    if not analysis.ok:
        return None
    compiled = compile_network(net, registry, "BlockUnderTest")
    info = compiled.network()
    torch.manual_seed(0)
    model = getattr(load_source(compiled.source), info.class_name)().eval()
    by_block = {f"in_{p}": s for p, s in inputs.items()}
    if registry.get(type_id).role == "input":
        by_block = {"under_test": _input_shape_of(analysis)}
    torch.manual_seed(1)
    args = tuple(sample_input(by_block[b]) for b in info.input_blocks)
    calib = {name: sample_input(by_block[b], batch=CALIBRATION).numpy()
             for name, b in zip(info.input_names, info.input_blocks)}
    return model, info, args, calib


def _ort(path: Path, info, args) -> torch.Tensor:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {name: a.numpy() for name, a in zip(info.input_names, args)}
    return torch.from_numpy(np.asarray(session.run(None, feeds)[0]))


def _compare(got: torch.Tensor, want: torch.Tensor, tol=None) -> bool | str:
    worst, rel, ok, problem = compare_value(got, want, tol)
    if problem:
        return problem
    if not ok:
        what = "the INT8 file's output" if tol is not None else "the file's output"
        bound = f"; tolerance {tol[1]:g} + {tol[0]:g} of it" if tol is not None else ""
        return f"{what} differs from the model's by up to {worst:.2g} ({rel:.2g} of its range{bound})"
    return True


def _opset(path: Path) -> int:
    import onnx

    return next((o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")), 0)


def _onnx(model, info, args, want, path: Path, opset: int | None) -> bool | str:
    try:
        export_onnx(model, info, path, args, opset=opset)
    except ExportError as err:
        return f"the ONNX exporter fails: {_first_line(err, 'ONNX export failed:')}"
    if opset is not None:
        have = _opset(path)
        if have != opset:
            import onnx

            why = "it has no form for that opset"
            try:
                onnx.version_converter.convert_version(onnx.load(str(path)), opset)
            except Exception as err:  # noqa: BLE001 - the converter asserts with many kinds
                why = _first_line(err, "failed:")
            return f"the exporter cannot bring the graph down from opset {have} to {opset} ({why})"
    try:
        got = _ort(path, info, args)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises many kinds
        return f"onnxruntime cannot run the file: {_first_line(err)}"
    return _compare(got, want)


def _torch_export(model, info, args, want, path: Path) -> bool | str:
    try:
        export_torch_program(model, info, path, args)
        program = torch.export.load(str(path))
        with torch.no_grad():
            got = program.module()(*args)
    except ExportError as err:
        return f"torch.export fails: {_first_line(err, 'torch.export failed:')}"
    except Exception as err:  # noqa: BLE001 - loading or running the program
        return f"the saved program does not run: {_first_line(err)}"
    return _compare(got, want)


def _int8(onnx_path: Path, info, args, calib, want, folder: Path) -> bool | str:
    import onnx

    from runtime.quantize import QuantizeError, _prepare, _quantize, plan_blocks

    proto = onnx.load(str(onnx_path))
    owned = {"under_test": [node.name for node in proto.graph.node]}
    try:
        plan_blocks(proto, owned, "static", [])
    except QuantizeError as err:
        text = str(err)
        if not text.startswith("nothing left"):  # weightless blocks follow their inputs: fine
            text = text.split("\n", 1)[-1].strip()
            text = text.replace("block 'under_test' (", "", 1).replace("): ", ": ", 1)
            return text.split("; use ", 1)[0]  # the why; what to do instead is graph/deploy.py's
    prepared, out = folder / "prepared.onnx", folder / "int8.onnx"
    try:
        _prepare(onnx_path, prepared)
        _quantize(prepared, out, "static", calib, info.input_names[0], [])
        got = _ort(out, info, args)
    except QuantizeError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises many kinds
        return f"onnxruntime cannot run the INT8 file: {_first_line(err)}"
    return _compare(got, want, INT8_TOLERANCE)


def derive_case(registry: Registry, type_id: str, params: dict, inputs: dict) -> dict[str, Any] | None:
    """target -> True or the reason, for one parameter set; None when it does not build."""
    built = _build(registry, type_id, params, inputs)
    if built is None:
        return None
    model, info, args, calib = built
    with torch.no_grad():
        want = model(*args)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dw-deploy-") as tmp:
        folder = Path(tmp)
        for target, opset in (("onnx13", 13), ("onnx17", 17), ("onnx", None)):
            results[target] = _onnx(model, info, args, want, folder / f"{target}.onnx", opset)
        results["torch-export"] = _torch_export(model, info, args, want, folder / "model.pt2")
        if results["onnx"] is True:
            results["int8"] = _int8(folder / "onnx.onnx", info, args, calib, want, folder)
        else:
            results["int8"] = "it does not export to ONNX at all (see target onnx)"
    assert list(results) == list(TARGETS)
    return results


def derive(registry: Registry | None = None, only: list[str] | None = None, progress=None) -> dict[str, Any]:
    """The whole table (or the named types only), as written to graph/deploy_support.json."""
    registry = registry or default_registry()
    cases = representative_cases()
    blocks: dict[str, Any] = {}
    for spec in registry:
        if only and spec.type_id not in only:
            continue
        if "placeholder" in spec.tags:
            blocks[spec.type_id] = {"case": None, "modes": {}, "support": dict.fromkeys(TARGETS, PLACEHOLDER)}
            continue
        case = cases.get(spec.type_id)
        if case is None:
            raise SystemExit(f"block type {spec.type_id} has no good case in tests/cases: add one first")
        base = derive_case(registry, spec.type_id, case.params, case.inputs)
        if base is None:
            raise SystemExit(f"{case.id}: the representative case does not build")
        entry: dict[str, Any] = {"case": case.id, "modes": modes_of(spec, case.params), "support": base}
        variants = {}
        for key, params in variants_of(spec, case.params):
            result = derive_case(registry, spec.type_id, params, case.inputs)
            differ = {t: v for t, v in (result or {}).items() if v != base[t]}
            if differ:
                variants[key] = differ
        if variants:
            entry["variants"] = variants
        blocks[spec.type_id] = entry
        if progress:
            bad = [t for t, v in base.items() if v is not True]
            progress(f"{spec.type_id:28} {'ok' if not bad else 'not: ' + ', '.join(bad)}"
                     + (f"  variants: {', '.join(variants)}" if variants else ""))
    return {"format": FORMAT, "version": 1, "generated_by": REGENERATE,
            "versions": _versions(), "targets": dict(TARGETS), "blocks": blocks}


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def dumps(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def counts(table: dict[str, Any]) -> dict[str, int]:
    """target -> how many block types it does not take (representative case)."""
    real = [e for e in table["blocks"].values() if e["case"] is not None]  # not the import placeholder
    return {t: sum(e["support"][t] is not True for e in real) for t in TARGETS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy_support",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("types", nargs="*", help="only these block types (printed, never written)")
    parser.add_argument("--write", action="store_true", help=f"write {SUPPORT_FILE.name}")
    args = parser.parse_args(argv)
    logging.getLogger("onnxscript").setLevel(logging.CRITICAL)
    logging.getLogger("torch.onnx").setLevel(logging.CRITICAL)
    with quiet_exporters():
        table = derive(only=args.types or None,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    real = sum(e["case"] is not None for e in table["blocks"].values())
    print(f"not supported (block types, of {real}):",
          ", ".join(f"{t} {n}" for t, n in counts(table).items()))
    if args.types:
        print(json.dumps(table["blocks"], indent=1))
        return 0
    if args.write:
        from graph.atomic import write_text

        write_text(SUPPORT_FILE, dumps(table))
        print(f"wrote {SUPPORT_FILE}")
        return 0
    committed = json.loads(SUPPORT_FILE.read_text(encoding="utf-8"))
    if committed["blocks"] != table["blocks"]:
        differ = sorted(t for t in set(committed["blocks"]) | set(table["blocks"])
                        if committed["blocks"].get(t) != table["blocks"].get(t))
        print(f"{SUPPORT_FILE} differs for: {', '.join(differ)}; run `{REGENERATE}`")
        return 1
    print(f"{SUPPORT_FILE} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
