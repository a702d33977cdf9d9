"""Post-training INT8 quantization of a trained run, with the figures that say whether it is worth it.

    report = quantize_run(Path("runs/digits"), Path("digits.int8.onnx"), method="static", calibration=256)

What happens, in order (nothing is written until every step succeeded):

1. The run is opened exactly as `deepwire evaluate` opens it (runtime/evaluate.py
   open_run): its project snapshot, best checkpoint and its data splits rebuilt
   with the run's seed and fractions, so "train" and "val" are the run's own.
2. The trained network is exported to a float ONNX file in a temporary folder
   (runtime/export.py export_onnx, the run's preprocessing in metadata_props).
3. Each block with weights is mapped to the ONNX nodes it became: the exporter
   records the module attribute a node came from (`pkg.torch.onnx.name_scopes`)
   and names initializers after it (`conv1.weight`). A batch norm folded into
   its convolution maps to that convolution as well.
4. Blocks that the chosen method cannot quantize are refused with the reason
   (static INT8 has no recurrent kernels: LSTM / GRU / RNN; dynamic INT8 only
   quantizes MatMul, Conv, Gather, LSTM, Attention), unless --keep-float names them.
5. onnxruntime.quantization writes the INT8 model: "static" (quantize_static,
   QDQ format, per-channel signed INT8 weights, unsigned INT8 activations, MinMax
   calibration on N samples of the run's *training* split) or "dynamic"
   (quantize_dynamic: INT8 weights, activations quantized per batch at run time).
   QDQ was chosen over the QOperator format by measurement: on the digits CNN at
   batch 256 with one thread, QDQ ran at 0.40x float latency and QOperator at
   ~6x (onnxruntime fuses QDQ pairs into its fast kernels; see README).
   Biases stay float32 (QuantizeBias off: three int32/float arrays per bias
   would take more room, and onnxruntime's INT8 kernels run as fast). The
   exporter's debugging metadata on each node (stack traces, FX node text,
   name scopes) is dropped from the INT8 file, a deployment artefact; the
   model's metadata_props (preprocessing) are kept and a
   `deepwire.quantization` entry says how it was made.
6. Float and INT8 are evaluated on the run's validation split with onnxruntime
   (accuracy for classification runs, else the mean absolute output difference),
   in batches of 256 with `threads` threads, and timed per batch on the CPU in
   alternating rounds. Dynamic INT8 outputs depend on the batch (its ranges are
   measured per batch) and, measured on the sine LSTM, on onnxruntime's thread
   count (mean abs difference 0.00215 with 1 thread, 0.00211 with all).
7. The INT8 file, written under a temporary name beside OUT, is renamed to OUT.

torch.ao's PT2E flow (`--format torch`) is refused: torch 2.13's CPU build has no
torch.ao.quantization.quantize_pt2e. Every failure is a QuantizeError whose message
names the place and what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

METHODS = ("static", "dynamic")
FORMATS = ("onnx", "torch")
RECURRENT_OPS = {"LSTM", "GRU", "RNN", "Scan", "Loop"}
LATENCY_BATCH = 256
SCOPE_KEY = "pkg.torch.onnx.name_scopes"
QUANT_METADATA = "deepwire.quantization"


class QuantizeError(ValueError):
    """The run, the options or the model cannot be quantized; the message says where and what to do."""


@dataclass
class QuantizeReport:
    run: str
    output: str
    method: str
    network: str
    calibration: int  # training samples the static ranges were measured on (0 for dynamic)
    metric: str  # "accuracy" or "mean_abs_diff"
    val_samples: int
    float_metric: float
    int8_metric: float
    float_bytes: int
    int8_bytes: int
    latency_batch: int
    float_ms: float  # median per batch over the rounds
    int8_ms: float
    latency_rounds: int
    threads: int
    kept_float: list[str] = field(default_factory=list)  # blocks kept in float (--keep-float)
    quantized_blocks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    float_samples: list[float] = field(default_factory=list, repr=False)  # ms per batch, round by round
    int8_samples: list[float] = field(default_factory=list, repr=False)
    # each block's value in INT8 against float (block_errors): runtime.parity.BlockParity fields
    blocks: list[dict[str, Any]] = field(default_factory=list)
    block_samples: int = 0  # the validation samples the per-block values were compared on
    output_error: float = 0.0  # the written INT8 file's own max abs output difference on those samples

    @property
    def size_ratio(self) -> float:
        return self.int8_bytes / self.float_bytes

    @property
    def latency_ratio(self) -> float:
        return self.int8_ms / self.float_ms

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "size_ratio": self.size_ratio, "latency_ratio": self.latency_ratio}

    def table(self) -> str:
        """The figures side by side, as the command prints them."""
        if self.metric == "accuracy":
            label = f"validation accuracy ({self.val_samples} samples)"
            values = (f"{self.float_metric:.2%}", f"{self.int8_metric:.2%}",
                      f"{(self.int8_metric - self.float_metric) * 100:+.2f} points")
        else:
            label = f"mean abs output difference to float ({self.val_samples} samples)"
            values = ("0", f"{self.int8_metric:.4g}", "")
        rows = [
            ("", "float", "INT8", "INT8 / float"),
            (label, *values),
            ("file size", _size(self.float_bytes), _size(self.int8_bytes), f"{self.size_ratio:.2f}x"),
            (f"CPU latency per batch of {self.latency_batch} (onnxruntime, {self.threads} thread"
             f"{'s' if self.threads != 1 else ''})", f"{self.float_ms:.3g} ms", f"{self.int8_ms:.3g} ms",
             f"{self.latency_ratio:.2f}x"),
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


    def blocks_table(self) -> str:
        """Each block's INT8 error against float, in the order forward() computes them: a
        measurement (INT8 drifts everywhere), with the blocks beyond INT8_TOLERANCE marked."""
        if not self.blocks:
            return ""
        from runtime.parity import INT8_TOLERANCE

        rtol, atol = INT8_TOLERANCE
        head = ("block", "type", "shape", "max abs diff", "max rel diff", "")
        rows = [head]
        for b in self.blocks:
            diffs = ((b["problem"], "") if b["problem"]
                     else (f"{b['max_abs_diff']:.2e}", f"{b['max_rel_diff']:.2e}"))
            mark = "" if b["ok"] else ("ReLU range" if b.get("relu_next") else "large")
            rows.append((b["name"], b["type"], b["shape"], *diffs, mark))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = [f"INT8 error per block ({self.block_samples} validation samples; rel: of the block's "
                 f"largest float value; large: above {atol:g} + {rtol:g} of it)"]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if any(b.get("relu_next") and not b["ok"] for b in self.blocks):
            lines.append("  ReLU range: the block feeds only a ReLU, so INT8 keeps its value in [0, max] and "
                         "its negative values (which the ReLU drops) count as error")
        unfolded = (" (so no batch norm folds into its convolution)"
                    if any(b["type"].startswith("BatchNorm") for b in self.blocks) else "")
        lines.append(f"  measured on an INT8 copy whose graph also outputs every block{unfolded}; the "
                     f"written file's own output: max abs diff {self.output_error:.2e}")
        return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 2**20:.2f} MiB"


# --- the run -------------------------------------------------------------------------------------

def _open(run_dir: Path, project: Path | None):
    """open_run, with every way a folder can be unusable turned into a QuantizeError."""
    from graph.project_io import ProjectFileError
    from runtime.data import DataError
    from runtime.evaluate import open_run
    from runtime.train.errors import SetupError
    from runtime.train.runs import SNAPSHOT

    if not run_dir.is_dir():
        raise QuantizeError(f"{run_dir}: no such run folder; give a run folder written by 'deepwire train'")
    if project is not None:
        _check_belongs(run_dir / SNAPSHOT, project)
    try:
        return open_run(run_dir)
    except (SetupError, DataError, ProjectFileError) as err:
        raise QuantizeError(str(err)) from None
    except (KeyError, RuntimeError, ValueError) as err:  # a checkpoint whose weights do not fit the snapshot
        raise QuantizeError(f"{run_dir}: its checkpoint does not fit the network it records "
                            f"({str(err).splitlines()[0][:200]}); was the folder assembled from two runs?"
                            ) from None


def _check_belongs(snapshot: Path, project_file: Path) -> None:
    """Refuse a run trained on another network than `project_file` has (a run of another project)."""
    from graph.blocks import default_registry
    from graph.network_match import describe_differences, network_differences
    from graph.project_io import ProjectFileError, load_project

    registry = default_registry()
    try:
        project = load_project(project_file, registry)
    except (ProjectFileError, OSError) as err:
        raise QuantizeError(f"{project_file}: the project cannot be read ({err})") from None
    if not snapshot.is_file():
        raise QuantizeError(f"{snapshot.parent}: not a run folder (no {snapshot.name}); give a run folder "
                            "written by 'deepwire train'")
    try:
        trained = load_project(snapshot, registry)
    except (ProjectFileError, OSError) as err:
        raise QuantizeError(f"{snapshot}: the project this run was trained as cannot be read "
                            f"({err})") from None
    differences = network_differences(trained, project)
    if differences:
        raise QuantizeError(f"{snapshot.parent}: refused: this run was trained on another network than "
                            f"project '{project.name[:60]}' has ({describe_differences(differences)}); "
                            "it is a run of another project, or of this one before it changed. Quantize it "
                            "without --project, or choose one of this project's runs")


def _checkpoint_metadata(checkpoint: Path) -> dict[str, str] | None:
    from runtime.export import read_state
    from runtime.export_project import recorded_preprocessing

    prep, _notes = recorded_preprocessing(read_state(checkpoint), checkpoint, "onnx")
    return prep.metadata() if prep is not None else None


# --- blocks and ONNX nodes -----------------------------------------------------------------------

def block_nodes(model_proto, network, module_names: dict[str, str], prefix: str = "") -> dict[str, list[str]]:
    """Block name -> names of the ONNX nodes it became (blocks with weights or state only).

    A node belongs to a block when the exporter's name scope starts with the block's module
    attribute, or when it reads one of the block's initializers (`<attr>.weight`): a batch
    norm folded into a convolution maps to that convolution as well. prefix: what the module
    attributes start with in this file ("model." in runtime/parity.py's per-block probe).
    """
    by_attr = {prefix + attr: network.blocks[bid].name
               for bid, attr in module_names.items() if bid in network.blocks}
    found: dict[str, list[str]] = {name: [] for name in by_attr.values()}
    initializers = {init.name for init in model_proto.graph.initializer}
    for node in model_proto.graph.node:
        owners = set()
        for prop in node.metadata_props:
            if prop.key == SCOPE_KEY:
                try:
                    scopes = [s for s in json.loads(prop.value.replace("'", '"')) if s]
                except ValueError:
                    scopes = []
                if scopes and scopes[0] in by_attr:
                    owners.add(by_attr[scopes[0]])
        for name in node.input:
            if name in initializers and name.startswith(prefix):
                attr = prefix + name[len(prefix):].split(".", 1)[0]
                if attr in by_attr:
                    owners.add(by_attr[attr])
        for owner in owners:
            found[owner].append(node.name)
    return found


def _registry(method: str) -> set[str]:
    from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry

    if method == "static":
        return set(QDQRegistry)
    return set(IntegerOpsRegistry) | {"Gemm"}  # Gemm becomes MatMul + Add first (gemm_to_matmul)


def gemm_to_matmul(model_proto) -> None:
    """Rewrite each Gemm with a constant weight (a Linear) as MatMul + Add, which dynamic INT8 quantizes.

    The MatMul keeps the Gemm's node name, so --keep-float still finds it.
    """
    import onnx
    from onnx import numpy_helper

    graph = model_proto.graph
    inits = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or len(node.input) < 2 or node.input[1] not in inits
                or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            weight = weight.T
        name = f"{node.input[1]}_for_matmul"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(onnx.helper.make_node("MatMul", [node.input[0], name], [product], name=node.name))
        if has_bias:
            nodes.append(onnx.helper.make_node("Add", [product, node.input[2]], [node.output[0]],
                                               name=f"{node.name}_bias"))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def plan_blocks(model_proto, owned: dict[str, list[str]], method: str,
                keep_float: list[str]) -> tuple[list[str], list[str]]:
    """(nodes to keep in float, blocks that get quantized); QuantizeError for blocks that do not quantize."""
    unknown = [b for b in keep_float if b not in owned]
    if unknown:
        names = ", ".join(sorted(b for b, nodes in owned.items() if nodes)) or "none"
        raise QuantizeError(f"--keep-float: no block named {', '.join(map(repr, unknown))} with weights in "
                            f"this network; blocks with weights: {names}")
    empty = [b for b in keep_float if not owned[b]]
    if empty:
        raise QuantizeError(f"--keep-float: block {', '.join(map(repr, empty))} has no operation of its own "
                            "in the exported graph (folded away or unused): nothing to keep in float")
    ops = {node.name: node.op_type for node in model_proto.graph.node}
    weights = {init.name for init in model_proto.graph.initializer if len(init.dims) >= 1}
    weighted = {node.name for node in model_proto.graph.node if any(n in weights for n in node.input)}
    supported = _registry(method)
    refused = []
    quantized = []
    for block, nodes in owned.items():
        if block in keep_float or not weighted & set(nodes):  # weightless ones (pooling) follow their inputs
            continue
        kinds = sorted({ops[n] for n in nodes})
        recurrent = sorted(set(kinds) & RECURRENT_OPS)
        if recurrent and not (method == "dynamic" and recurrent == ["LSTM"]):
            hint = "use --method dynamic (INT8 LSTM weights) or " if recurrent == ["LSTM"] else "use "
            refused.append(f"block '{block}' ({', '.join(recurrent)}): onnxruntime's {method} INT8 has no "
                           f"kernel for it, so its weights would stay float; {hint}--keep-float {block}")
        elif not set(kinds) & supported:
            other = "static" if method == "dynamic" else "dynamic"
            hint = f"--method {other} or " if set(kinds) & _registry(other) else ""
            refused.append(f"block '{block}' ({', '.join(kinds)}): {method} INT8 in onnxruntime does not "
                           f"quantize these operations; use {hint}--keep-float {block}")
        else:
            quantized.append(block)
    if refused:
        raise QuantizeError("refused: some blocks do not quantize:\n  " + "\n  ".join(refused))
    if not quantized:
        raise QuantizeError("nothing left to quantize: every block with weights is kept in float")
    excluded = [n for b in keep_float for n in owned[b]]
    return excluded, quantized


def strip_debug_metadata(model_proto) -> None:
    """Drop the exporter's per-node debugging text (stack traces, FX nodes, name scopes)."""
    for node in model_proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""


# --- data ----------------------------------------------------------------------------------------

def calibration_inputs(inputs: np.ndarray, count: int, expected: tuple[int, ...], seed: int) -> np.ndarray:
    """`count` samples of the training split (a seeded random choice), checked to fit the network."""
    if count < 1:
        raise QuantizeError("--calibration must be at least 1 (a few hundred samples are typical)")
    if len(inputs) == 0:
        raise QuantizeError("the run's training split is empty: there is no data to calibrate on")
    if tuple(inputs.shape[1:]) != tuple(expected):
        raise QuantizeError(f"the run's training data has samples of shape {tuple(inputs.shape[1:])}, but "
                            f"the network reads {tuple(expected)}: the data changed since the run was "
                            "trained; train again on the current data")
    if inputs.dtype.kind == "f" and not np.isfinite(inputs).all():
        raise QuantizeError("the run's training data holds NaN or infinite values, which cannot set INT8 "
                            "ranges; fix the data (deepwire data PROJECT shows where) and train again")
    count = min(count, len(inputs))
    order = np.random.default_rng(seed).permutation(len(inputs))[:count]
    return np.ascontiguousarray(inputs[np.sort(order)])


def _session(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_batches(session, input_name: str, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    outputs = [session.run(None, {input_name: inputs[i:i + batch]})[0] for i in range(0, len(inputs), batch)]
    return np.concatenate(outputs)


def accuracy(outputs: np.ndarray, targets: np.ndarray, head: str) -> float:
    """As runtime/evaluate.py predict(): sign for a binary head, else argmax of the last axis."""
    if head == "BinaryHead":
        pred = (outputs.reshape(-1) > 0).astype(np.int64)
    else:
        pred = outputs.argmax(axis=-1).reshape(-1)
    truth = targets.reshape(-1).astype(np.int64)
    return float(np.mean(pred == truth)) if len(truth) else 0.0


def time_sessions(sessions: dict[str, Any], input_name: str, batch: np.ndarray,
                  rounds: int) -> dict[str, list]:
    """ms per batch of each session, in alternating rounds (a slow spell hits both alike)."""
    for session in sessions.values():  # warm up
        for _ in range(2):
            session.run(None, {input_name: batch})
    names = list(sessions)
    times: dict[str, list[float]] = {name: [] for name in names}
    repeats = 3
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            for _ in range(repeats):
                sessions[name].run(None, {input_name: batch})
            times[name].append((time.perf_counter() - start) / repeats * 1000)
    return times


# --- the whole thing -----------------------------------------------------------------------------

def check_output(out: Path, force: bool) -> None:
    if out.suffix.lower() != ".onnx":
        raise QuantizeError(f"{out}: the INT8 model is an ONNX file; name it *.onnx")
    if not out.parent.is_dir():
        raise QuantizeError(f"{out.parent}: no such folder; create it first")
    if out.is_dir():
        raise QuantizeError(f"{out}: is a folder; give a file name ending in .onnx")
    if out.exists() and not force:
        raise QuantizeError(f"{out}: already exists; add --force to replace it")


def quantize_run(run_dir: Path, out: Path, method: str = "static", calibration: int = 256, fmt: str = "onnx",
                 keep_float: list[str] | None = None, force: bool = False, project: Path | None = None,
                 latency_batch: int = LATENCY_BATCH, rounds: int = 10, threads: int = 1,
                 seed: int = 0, float_onnx: Path | None = None) -> QuantizeReport:
    """Quantize a run's trained network to INT8 ONNX at `out` and measure it against float.

    float_onnx: an existing float export of the run to quantize instead of exporting afresh
    (checked to be readable and to compute what the run's network computes).
    """
    run_dir, out = Path(run_dir), Path(out)
    keep_float = list(dict.fromkeys(keep_float or []))
    if fmt == "torch":
        raise QuantizeError("--format torch: torch.ao's PT2E quantization "
                            "(torch.ao.quantization.quantize_pt2e) is not part of this torch build; "
                            "use --format onnx (onnxruntime's quantization)")
    if fmt not in FORMATS:
        raise QuantizeError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if method not in METHODS:
        raise QuantizeError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    if latency_batch < 1 or rounds < 1 or threads < 1:
        raise QuantizeError("--latency-batch, --rounds and --threads must be at least 1")
    if calibration < 1:
        raise QuantizeError("--calibration must be at least 1 (a few hundred samples are typical)")
    check_output(out, force)

    import onnx

    from graph.atomic import atomic_path
    from runtime.export import ExportError, export_onnx, sample_inputs, vocab_sizes

    opened = _open(run_dir, project)
    recipe = opened.recipe
    setup = recipe.setup
    network = recipe.network
    info = setup.compiled.network(network)
    if len(info.input_names) != 1:
        raise QuantizeError(f"network '{network}' reads {len(info.input_names)} inputs; quantization here "
                            "calibrates networks with one input")
    if recipe.train_data is None or len(recipe.train_data) == 0:
        raise QuantizeError("the run's training split is empty: there is no data to calibrate on")
    if recipe.val_data is None or len(recipe.val_data) == 0:
        raise QuantizeError("this run has no validation split to compare float and INT8 on; set val_fraction "
                            "above 0 and train again")
    input_name = info.input_names[0]
    net = next(n for n in setup.project.networks if n.name == network)
    expected = tuple(int(n) for n in info.input_shapes[0])
    train_inputs = recipe.train_data.inputs.cpu().numpy()
    calib = calibration_inputs(train_inputs, calibration, expected, seed) if method == "static" else None
    val_x = np.ascontiguousarray(recipe.val_data.inputs.cpu().numpy())
    val_y = recipe.val_data.targets.cpu().numpy() if recipe.val_data.targets is not None else None
    notes = []
    if method == "static" and calibration > len(train_inputs):
        notes.append(f"--calibration {calibration}: the training split has {len(train_inputs)} samples; "
                     "all of them were used")

    with tempfile.TemporaryDirectory(prefix="deepwire-quantize-") as tmp:
        float_path = Path(tmp) / "float.onnx"
        if float_onnx is not None:
            float_proto = given_float(Path(float_onnx), recipe.model, input_name, val_x, float_path)
        else:
            example = sample_inputs(info, vocab_sizes=vocab_sizes(setup.project, network))
            try:
                export_onnx(recipe.model, info, float_path, example, _checkpoint_metadata(opened.checkpoint))
            except ExportError as err:
                raise QuantizeError(f"{err}; a model that does not export to ONNX cannot be quantized here "
                                    "(deepwire export PROJECT -f onnx shows the same)") from None
            float_proto = onnx.load(str(float_path))
        owned = block_nodes(float_proto, net, info.module_names)
        excluded, quantized = plan_blocks(float_proto, owned, method, keep_float)
        prepared = Path(tmp) / "prepared.onnx"
        source = float_path
        if method == "dynamic":
            gemm_to_matmul(float_proto)
            source = Path(tmp) / "matmul.onnx"
            onnx.save(float_proto, str(source))
        _prepare(source, prepared)
        with atomic_path(out) as temp:
            written = Path(tmp) / "int8.onnx"
            _quantize(prepared, written, method, calib, input_name, excluded)
            proto = onnx.load(str(written))
            strip_debug_metadata(proto)
            props = {p.key: p.value for p in proto.metadata_props}
            used = len(calib) if calib is not None else 0
            props[QUANT_METADATA] = json.dumps({"method": method, "calibration": used,
                                                "kept_float": keep_float, "network": network})
            onnx.helper.set_model_props(proto, props)
            onnx.save(proto, str(temp))
            report = _measure(float_path, temp, input_name, val_x, val_y, recipe, latency_batch, rounds,
                              threads, seed)
            report.update(run=str(run_dir), output=str(out), method=method, network=network,
                          calibration=len(calib) if calib is not None else 0, kept_float=keep_float,
                          quantized_blocks=quantized, notes=notes, threads=threads)
            inputs = val_x[:BLOCK_SAMPLES]
            try:
                blocks = block_errors(recipe.model, setup.compiled.source, info, net, example_of(info, setup,
                                      network), inputs, method, calib, keep_float, Path(tmp))
                report.update(blocks=[{**asdict(b), "relu_next": _feeds_only_relu(net, b.block)}
                                      for b in blocks.blocks], block_samples=len(inputs),
                              output_error=output_error(recipe.model, temp, input_name, inputs))
            except Exception as err:  # noqa: BLE001 - a measurement: the INT8 file itself is fine
                notes.append(f"the per-block INT8 table could not be made ({type(err).__name__}: "
                             f"{str(err).splitlines()[0][:160] if str(err) else ''})")
        result = QuantizeReport(**report)
        if result.latency_ratio > 1:
            hint = (": dynamic INT8 quantizes activations anew on every batch; --method static, calibrated "
                    "once, is the fast one for convolutions and linear layers" if method == "dynamic" else "")
            result.notes.append(f"INT8 ran slower than float here ({result.latency_ratio:.2f}x at batch "
                                f"{latency_batch}){hint}")
        return result


BLOCK_SAMPLES = 64  # validation samples the per-block INT8 values are compared on


def example_of(info, setup, network: str):
    from runtime.export import sample_inputs, vocab_sizes

    return sample_inputs(info, vocab_sizes=vocab_sizes(setup.project, network))


def block_errors(model, source: str, info, net, example, inputs: np.ndarray, method: str,
                 calib: np.ndarray | None, keep_float: list[str], folder: Path):
    """Each block's value in INT8 against the float model (a runtime.parity.BlockReport).

    The float model exported once more as runtime/parity.py's probe, whose graph also outputs
    every block's value, is quantized exactly as the user's file was (method, calibration
    samples, --keep-float blocks) and run in onnxruntime on `inputs`; each block output is
    compared with the in-app model's value, within INT8_TOLERANCE (a measurement, not a
    pass/fail: INT8 drifts)."""
    import onnx
    import torch

    from runtime import parity
    from runtime.export import quiet_exporters

    batch = (torch.from_numpy(np.ascontiguousarray(inputs)),)
    blocks, want = parity.reference_values(model, source, info, parity.computed_blocks(info), batch)
    with quiet_exporters():
        probe = parity.write_onnx_probe(model, source, info, blocks, example, folder / "probe.onnx")
    proto = onnx.load(str(probe))
    # the written file's plan (plan_blocks) already checked the request; here a batch norm is not
    # folded into its convolution, and dynamic INT8 simply leaves it float
    owned = block_nodes(proto, net, info.module_names, "model.")
    excluded = [n for b in keep_float for n in owned.get(b, [])]
    source_path = probe
    if method == "dynamic":
        gemm_to_matmul(proto)
        source_path = folder / "probe_matmul.onnx"
        onnx.save(proto, str(source_path))
    _prepare(source_path, folder / "probe_prepared.onnx")
    _quantize(folder / "probe_prepared.onnx", folder / "probe_int8.onnx", method, calib, info.input_names[0],
              excluded)
    got = parity.run_onnx_blocks(folder / "probe_int8.onnx", info, blocks, batch)
    return parity.compare_blocks(net, blocks, got, want, info.network, parity.INT8_TOLERANCE)


RELU_TYPES = ("ReLU", "ReLU6")


def _feeds_only_relu(net, block_id: str) -> bool:
    """Does the block's value go only into ReLUs? INT8 then keeps it in the ReLU's range [0, max]
    (onnxruntime folds the ReLU into the quantization), so its negative values are lost there by
    design: the ReLU would drop them anyway."""
    consumers = [net.blocks[e.dst].type for e in net.edges_from(block_id)]
    return bool(consumers) and all(t in RELU_TYPES for t in consumers)


def output_error(model, int8_path: Path, input_name: str, inputs: np.ndarray) -> float:
    """Max |INT8 - float| of the written file's own output on `inputs` (beside the per-block table,
    whose file also outputs every block and so keeps batch norms from folding into convolutions)."""
    import torch

    got = _session(int8_path, 1).run(None, {input_name: np.ascontiguousarray(inputs)})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(np.ascontiguousarray(inputs)))
    want = want[0] if isinstance(want, tuple) else want
    return float(np.abs(got.astype(np.float64) - want.double().numpy()).max())


def given_float(path: Path, model, input_name: str, val_x: np.ndarray, copy_to: Path):
    """A float ONNX file the user gave: readable, valid, and the run's network (outputs compared)."""
    import shutil

    import onnx
    import torch

    if not path.is_file():
        raise QuantizeError(f"{path}: no such ONNX file")
    again = "export it again: deepwire export RUN/project.dw.json -f onnx --weights RUN -o FILE.onnx"
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as err:  # noqa: BLE001 - protobuf and the checker raise many kinds
        why = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise QuantizeError(f"{path}: not a valid ONNX file (corrupted or truncated? {why}); "
                            f"{again}") from None
    names = [i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if names != [input_name]:
        raise QuantizeError(f"{path}: its inputs are {names}, but this run's network reads ['{input_name}']: "
                            f"it is the export of another network; {again}")
    sample = np.ascontiguousarray(val_x[:32])
    try:
        got = _session(path, 1).run(None, {input_name: sample})[0]
    except Exception as err:  # noqa: BLE001
        raise QuantizeError(f"{path}: onnxruntime cannot run it on this run's data "
                            f"({str(err).splitlines()[0][:160]}); {again}") from None
    with torch.no_grad():
        want = model(torch.from_numpy(sample)).float().numpy()
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-3, rtol=1e-3):
        raise QuantizeError(f"{path}: its outputs differ from this run's trained network on validation "
                            f"samples: it is not this run's export (other weights or another network); "
                            f"{again}")
    shutil.copyfile(path, copy_to)
    return proto


def _prepare(src: Path, dst: Path) -> None:
    """onnxruntime's pre-processing (shape inference, graph optimisation) before quantizing."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst))
    except Exception as err:  # noqa: BLE001 - shape inference raises many kinds
        raise QuantizeError(f"onnxruntime cannot prepare the exported model for quantization "
                            f"({str(err).splitlines()[0][:200]})") from None


class _Reader:
    """onnxruntime's CalibrationDataReader over an array, in batches of 64."""

    def __init__(self, name: str, inputs, batch: int = 64):
        # inputs: one array for input `name`, or {input name: array} for a network with several inputs
        feeds = inputs if isinstance(inputs, dict) else {name: inputs}
        count = len(next(iter(feeds.values())))
        self._batches = iter([{k: v[i:i + batch] for k, v in feeds.items()} for i in range(0, count, batch)])

    def get_next(self):
        return next(self._batches, None)

    def rewind(self):  # newer onnxruntime versions may ask; never needed for one pass
        pass


def _quantize(src: Path, dst: Path, method: str, calib: np.ndarray | None, input_name: str,
              excluded: list[str]) -> None:
    from onnxruntime.quantization import CalibrationDataReader

    reader_class = type("Reader", (_Reader, CalibrationDataReader), {})
    try:
        with _quiet_rank_one_fallback():
            _run_quantizer(src, dst, method, calib, input_name, excluded, reader_class)
    except QuantizeError:
        raise
    except Exception as err:  # noqa: BLE001 - onnxruntime raises many kinds
        raise QuantizeError(f"onnxruntime could not quantize the model ({type(err).__name__}: "
                            f"{str(err).splitlines()[0][:200] if str(err) else ''})") from None


def _run_quantizer(src: Path, dst: Path, method: str, calib, input_name: str, excluded: list[str],
                   reader_class) -> None:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if method == "static":
        quantize_static(str(src), str(dst), reader_class(input_name, calib), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded,
                        extra_options={"QuantizeBias": False})
    else:
        quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8,
                         nodes_to_exclude=excluded)


class _RankOneFallback(logging.Filter):
    """onnxruntime's per-channel quantizer logs, on the root logger, "Axis 1 is out-of-range for weight
    'norm1.weight' with rank 1" for every 1-D weight (an unfolded batch norm's scale in the per-block
    copy) and quantizes it per tensor instead: the right thing, said as a warning a user cannot act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is out-of-range for weight" not in record.getMessage()


@contextlib.contextmanager
def _quiet_rank_one_fallback():
    root, quiet = logging.getLogger(), _RankOneFallback()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def _measure(float_path: Path, int8_path: Path, input_name: str, val_x: np.ndarray, val_y, recipe,
             latency_batch: int, rounds: int, threads: int, seed: int) -> dict[str, Any]:
    try:
        int8 = _session(int8_path, threads)
    except Exception as err:  # noqa: BLE001
        raise QuantizeError(f"the INT8 model does not load in onnxruntime ({str(err).splitlines()[0][:200]})"
                            ) from None
    floating = _session(float_path, threads)
    out_float = run_batches(floating, input_name, val_x)
    out_int8 = run_batches(int8, input_name, val_x)
    if getattr(recipe, "monitor", "") == "accuracy" and val_y is not None:
        metric = "accuracy"
        head = getattr(recipe, "head", "")
        float_metric, int8_metric = accuracy(out_float, val_y, head), accuracy(out_int8, val_y, head)
    else:
        metric = "mean_abs_diff"
        float_metric = 0.0
        int8_metric = float(np.mean(np.abs(out_int8.astype(np.float64) - out_float)))
    rng = np.random.default_rng(seed)
    batch = np.ascontiguousarray(val_x[rng.integers(0, len(val_x), latency_batch)])
    times = time_sessions({"float": floating, "int8": int8}, input_name, batch, rounds)
    return {"metric": metric, "val_samples": len(val_x), "float_metric": float_metric,
            "int8_metric": int8_metric, "float_bytes": os.path.getsize(float_path),
            "int8_bytes": os.path.getsize(int8_path), "latency_batch": latency_batch,
            "float_ms": statistics.median(times["float"]), "int8_ms": statistics.median(times["int8"]),
            "latency_rounds": rounds, "float_samples": times["float"], "int8_samples": times["int8"]}
