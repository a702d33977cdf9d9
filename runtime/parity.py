"""Per-block parity: where an exported file's numbers first part from the in-app model's.

The final-output check (runtime/export_project.verify_export) says *whether*
a file matches; this says *where* it stops matching. Each block's value is
made an extra output of the network: the generated forward() is rewritten
(`tapped_source`) so that after each block's line a copy of its value is
kept and returned after the heads' outputs. That rewritten forward runs

- on the in-app model itself, in eager PyTorch: the reference values;
- through the same writer as the user's file (a temporary copy, never the
  user's file): ONNX with one named output per block, run in onnxruntime;
  a torch.export program, saved and loaded back; or the exported Python
  file's own forward() for the python format.

Both run with the in-app model's weights on the same batch, and the values
are compared block by block in topological order with a relative (to the
block's largest value) plus absolute tolerance chosen by the value's dtype
(`TOLERANCES`); integer values
must be equal. The first block outside tolerance is the divergence: the
blocks before it match, so the cause is in it (its export template, or how
the target runs its operation).

Rewriting the source (rather than forward hooks) is what reaches every
block: many blocks are plain expressions in forward() (x + y, F.relu(x)),
with no submodule to hook.

For pipelines that transform an ONNX graph (quantization), `write_onnx_probe`
gives the ONNX file with every block as a named output, `run_onnx_blocks`
reads those outputs back from the transformed file, and `compare_blocks`
takes wider bounds (`tol`).
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from graph.compiler import CompiledNetwork
from graph.model import Network
from runtime.build import load_source

# dtype -> (rtol, atol): max |got - want| <= atol + rtol * max |want| over the block's value. The
# relative part is scaled by the block's largest value, not each element's: deep in a network an
# element near zero is the sum of large terms and carries their rounding (ResNet-50's layer4 batch
# norms in ONNX: 2.8e-4 off where the values reach 200, 1.4e-6 of their scale), while a wrong
# constant or operation is off by a share of the whole. float32 bounds are the final check's
# (runtime/export_project.py ATOL, RTOL); half precision keeps ~3 decimal digits, bfloat16 ~2, so
# their bounds are wider. Any other dtype (integers, bool) must match exactly.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-4, 1e-4),
    torch.float32: (1e-4, 1e-4),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1e-2),
}
EXACT = (0.0, 0.0)
# (rtol, atol) for an INT8 file against the float model: 8-bit steps of each value's range drift far
# more than rounding does: within a quarter of the value's range means it runs and computes the same thing
INT8_TOLERANCE = (0.25, 0.05)
TAP = "_dw_tap_"  # names the rewritten forward keeps block values in
KEEP = "_dw_keep"
WRAPPER = "_DwTapped"


class ParityError(RuntimeError):
    """The per-block check could not be made (the message says why); the final check still stands."""


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    return TOLERANCES.get(dtype, EXACT)


@dataclass
class BlockParity:
    """One block's value in the exported file versus the in-app model."""

    block: str  # block id
    name: str
    type: str
    shape: str  # the in-app value's shape, e.g. "(3, 16, 14, 14)"
    dtype: str
    max_abs_diff: float
    max_rel_diff: float  # max |got - want| / max |want|: the difference relative to the value's scale
    ok: bool
    problem: str = ""  # a shape or dtype that differs, a value missing from the file

    def describe(self) -> str:
        if self.problem:
            return self.problem
        return f"max abs diff {self.max_abs_diff:.2g} (rel {self.max_rel_diff:.2g})"


@dataclass
class BlockReport:
    """Every compared block of one network in one file, in topological order."""

    network: str
    blocks: list[BlockParity] = field(default_factory=list)

    @property
    def first_divergence(self) -> BlockParity | None:
        return next((b for b in self.blocks if not b.ok), None)

    def message(self) -> str:
        """One sentence: the first diverging block and by how much, or that every block matches."""
        first = self.first_divergence
        if first is None:
            return (f"all {len(self.blocks)} blocks match the in-app model within tolerance; the "
                    "difference arises after the last block (in the outputs the file returns)")
        before = self.blocks.index(first)
        matched = (f"the {before} block{'s' if before != 1 else ''} before it match" if before
                   else "it is the first block computed")
        return (f"first divergence at block '{first.name}' ({first.type}, id {first.block}) of network "
                f"'{self.network}': {first.describe()}; {matched}")

    def table(self) -> str:
        """The per-block table `deepwire export --explain` prints."""
        head = ("block", "type", "shape", "max abs diff", "max rel diff", "ok")
        rows = [head]
        for b in self.blocks:
            if b.problem:
                diffs = (b.problem, "")
            else:
                diffs = (f"{b.max_abs_diff:.2e}", f"{b.max_rel_diff:.2e}")
            rows.append((b.name, b.type, b.shape, *diffs, "yes" if b.ok else "NO"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                         for row in rows)


# --- the rewritten forward ----------------------------------------------------------------

ASSIGN = re.compile(r"^        ([A-Za-z_][A-Za-z0-9_]*) = ")


def tapped_source(source: str, info: CompiledNetwork, blocks: list[str]) -> str:
    """`source` with the forward() of `info`'s class also returning a copy of each block's value.

    blocks: block ids with a forward line (info.lines), in the order their values are returned,
    after the network's own outputs; forward() then always returns a tuple.
    """
    lines = source.splitlines()
    header = f"class {info.class_name}(nn.Module):"
    try:
        found = lines.index(header) + 1
    except ValueError:
        raise ParityError(f"the source has no class {info.class_name}") from None
    by_line: dict[int, list[str]] = {}
    for i, bid in enumerate(blocks):
        number = info.lines[bid]
        match = ASSIGN.match(lines[number - 1]) if 0 < number <= len(lines) else None
        if match is None:
            raise ParityError(f"line {number} of the source is not the forward line of block {bid}")
        by_line.setdefault(number, []).append(f"        {TAP}{i} = {KEEP}({match.group(1)})")
    start = found  # 0-based index of the line after the class header
    end = next((j for j in range(start, len(lines)) if lines[j] and not lines[j].startswith(" ")), len(lines))
    forward = next((j for j in range(start, end) if lines[j].startswith("    def forward(")), None)
    if forward is None:
        raise ParityError(f"class {info.class_name} has no forward()")
    ret = next((j for j in range(forward + 1, end) if lines[j].startswith("        return ")), None)
    if ret is None:
        raise ParityError(f"the forward() of class {info.class_name} has no return line")
    returned = lines[ret].removeprefix("        return ").strip()
    taps = "".join(f"{TAP}{i}, " for i in range(len(blocks)))
    out: list[str] = []
    for j, line in enumerate(lines):
        if j == ret:
            out.append(f"        return ({returned},) + ({taps})")
            continue
        out.append(line)
        out.extend(by_line.get(j + 1, ()))
    args = ", ".join(info.input_names)
    out += ["", "", f"def {KEEP}(value):",
            "    return value.clone() if isinstance(value, _dw_torch.Tensor) else value",
            "", "", f"class {WRAPPER}(nn.Module):",
            '    """The in-app model itself (its submodules, its weights) run by the forward() above."""',
            "", "    def __init__(self, model):", "        super().__init__()", "        self.model = model",
            "", f"    def forward(self, {args}):",
            f"        return {info.class_name}.forward(self.model, {args})", ""]
    return "import torch as _dw_torch\n" + "\n".join(out)  # before the docstring: it is only a string then


def tapped_model(model: nn.Module, source: str, info: CompiledNetwork, blocks: list[str]) -> nn.Module:
    """`model` (the same submodules and weights, nothing copied) run by the rewritten forward();
    its forward takes the network's inputs by name, as the exporters need."""
    module = load_source(tapped_source(source, info, blocks), "deepwire_parity")
    return getattr(module, WRAPPER)(model)


def computed_blocks(info: CompiledNetwork) -> list[str]:
    """Block ids that compute a value (have a forward line), in the order forward() computes them."""
    return sorted(info.lines, key=info.lines.__getitem__)


# --- comparing ----------------------------------------------------------------------------

def _shape(shape) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + ")"


def compare_value(got, want: torch.Tensor,
                  tol: tuple[float, float] | None = None) -> tuple[float, float, bool, str]:
    """(max abs diff, max rel diff, within tolerance, problem) of one block's value.

    tol: (rtol, atol) instead of the dtype's (an INT8 file is compared with wider bounds)."""
    if not isinstance(got, torch.Tensor):
        return math.inf, math.inf, False, f"the file gives {type(got).__name__}, not a tensor"
    if tuple(got.shape) != tuple(want.shape):
        return (math.inf, math.inf, False,
                f"shape {_shape(got.shape)} where the in-app model gives {_shape(want.shape)}")
    rtol, atol = tol if tol is not None else tolerance(want.dtype)
    if want.numel() == 0:
        return 0.0, 0.0, True, ""
    g, w = got.double(), want.double()
    diff = (g - w).abs()
    diff = torch.where(torch.isnan(g) & torch.isnan(w), 0.0, diff)  # NaN where the model has NaN too
    diff = torch.where(torch.isnan(diff), torch.inf, diff)  # else NaN is no match (max() would skip it)
    worst = float(diff.max())
    scale = float(w.abs().nan_to_num(0.0, posinf=0.0, neginf=0.0).max())
    rel = worst / scale if scale > 0 else (0.0 if worst == 0 else math.inf)
    ok = worst <= atol + rtol * scale
    return worst, rel, ok, ""


def compare_blocks(network: Network, blocks: list[str], got: list, want: list[torch.Tensor],
                   network_name: str, tol: tuple[float, float] | None = None) -> BlockReport:
    """Block by block, in the order given (topological): got[i] is the file's value of blocks[i]."""
    if not len(blocks) == len(got) == len(want):
        raise ParityError(f"the file gives {len(got)} block values for {len(blocks)} blocks")
    report = BlockReport(network_name)
    for bid, g, w in zip(blocks, got, want):
        block = network.blocks[bid]
        worst, rel, ok, problem = compare_value(g, w, tol)
        report.blocks.append(BlockParity(bid, block.name, block.type, _shape(w.shape),
                                         str(w.dtype).removeprefix("torch."), worst, rel, ok, problem))
    return report


# --- running each kind of file ------------------------------------------------------------

def reference_values(model: nn.Module, source: str, info: CompiledNetwork, blocks: list[str],
                     inputs: tuple[torch.Tensor, ...]) -> tuple[list[str], list[torch.Tensor]]:
    """The in-app model's value of each block (eager), keeping only the blocks whose value is a tensor."""
    probe = tapped_model(model, source, info, blocks)
    with torch.no_grad():
        values = probe(*inputs)[len(info.output_blocks):]
    kept = [(b, v) for b, v in zip(blocks, values) if isinstance(v, torch.Tensor)]
    return [b for b, _v in kept], [v for _b, v in kept]


def write_onnx_probe(model: nn.Module, source: str, info: CompiledNetwork, blocks: list[str],
                     example: tuple[torch.Tensor, ...], path: Path) -> Path:
    """An ONNX file of the network whose graph also outputs every block's value, named
    `block:<id>` after the network's own outputs (made by the writer of the user's file).

    Another pipeline working on ONNX graphs (quantization) can transform this file and read the
    block outputs of the result with `run_onnx_blocks`."""
    from runtime.export import export_onnx, output_names

    probe = tapped_model(model, source, info, blocks)
    return export_onnx(probe, info, path, example, outputs=output_names(info) + block_outputs(blocks))


def block_outputs(blocks: list[str]) -> list[str]:
    return [f"block:{bid}" for bid in blocks]


def run_onnx_blocks(path: Path, info: CompiledNetwork, blocks: list[str],
                    inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """The `block:<id>` outputs of an ONNX file, run in onnxruntime on `inputs`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {name: x.numpy() for name, x in zip(info.input_names, inputs)}
    wanted = block_outputs(blocks)
    present = {o.name for o in session.get_outputs()}
    missing = [n for n in wanted if n not in present]
    if missing:
        raise ParityError(f"the ONNX file lacks the block outputs {', '.join(missing[:5])}")
    return [torch.from_numpy(y) for y in session.run(wanted, feed)]


def onnx_values(model: nn.Module, source: str, info: CompiledNetwork, blocks: list[str],
                example: tuple[torch.Tensor, ...], inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Each block's value from a temporary ONNX export that outputs every block, in onnxruntime."""
    with tempfile.TemporaryDirectory(prefix="deepwire-parity-") as folder:
        path = write_onnx_probe(model, source, info, blocks, example, Path(folder) / "probe.onnx")
        return run_onnx_blocks(path, info, blocks, inputs)


def torch_export_values(model: nn.Module, source: str, info: CompiledNetwork, blocks: list[str],
                        example: tuple[torch.Tensor, ...],
                        inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Each block's value from a temporary torch.export program of the tapped forward, saved and
    loaded back the way the user's .pt2 is."""
    from runtime.export import as_tuple, export_torch_program, quiet_exporters

    probe = tapped_model(model, source, info, blocks)
    with tempfile.TemporaryDirectory(prefix="deepwire-parity-") as folder:
        path = Path(folder) / "probe.pt2"
        export_torch_program(probe, info, path, example)
        with quiet_exporters():
            program = torch.export.load(str(path))
        with torch.no_grad():
            values = as_tuple(program.module()(*inputs))
    return list(values[len(info.output_blocks):])


def python_values(model: nn.Module, file_source: str, compiled_source: str, info: CompiledNetwork,
                  blocks: list[str], inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Each block's value from the exported Python file's own forward(), with the in-app weights."""
    header = f"class {info.class_name}(nn.Module):"
    file_lines, compiled_lines = file_source.splitlines(), compiled_source.splitlines()
    if header not in file_lines or header not in compiled_lines:
        raise ParityError(f"the file has no class {info.class_name}")
    shift = file_lines.index(header) - compiled_lines.index(header)
    shifted = CompiledNetwork(**{**vars(info), "lines": {b: n + shift for b, n in info.lines.items()}})
    probe = tapped_model(model, file_source, shifted, blocks)
    with torch.no_grad():
        values = probe(*inputs)
    return list(values[len(info.output_blocks):])
