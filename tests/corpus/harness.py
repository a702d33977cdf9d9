"""One corpus model through the whole path: import, export, compare, import back, train; one table row.

`measure(entry, folder)` builds the original (seeded, batch-norm statistics
moved off their initial values), saves its state_dict and runs, through
runtime.cli.main as a user would:
  deepwire import tests/corpus/<file>.py:NAME --input-shape ... --head ... --weights STATE -o P
  deepwire export P --format python --weights P.weights.pt -o exported.py
  deepwire import exported.py -o again           (round trip: the same blocks)
  deepwire train P --data arrays:path=DATA.npz --epochs 1 --quiet
and compares the exported file's model (its weights loaded from the .pt the
export wrote beside it) with the original on a fresh batch. A command that
prints a traceback fails the row, whatever its exit code.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tests.corpus import own_models, zoo

CORPUS = Path(__file__).resolve().parent
RTOL = ATOL = 1e-5  # |exported - original| <= ATOL + RTOL |original| for every output value
COMPARE_BATCH = 3


@dataclass(frozen=True)
class Model:
    name: str
    file: Path
    shapes: tuple[str, ...]
    head: str
    refuse: bool = False  # data-dependent Python: a clear refusal (exit 2, naming the line) is right


def corpus() -> list[Model]:
    found = [Model(e.name, CORPUS / "zoo.py", (e.shape,), e.head) for e in zoo.ENTRIES]
    for name, (shapes, head) in own_models.ENTRY_SHAPES.items():
        found.append(Model(name, CORPUS / "own_models.py", tuple(shapes), head, name == "DataDependent"))
    return found


@dataclass
class Row:
    name: str
    exit: int | None = None
    unsupported: int | None = None
    params: tuple[int, int] | None = None  # (imported, original)
    max_diff: float | None = None
    within: bool = False
    round_trip: str = "-"
    train: str = "-"
    traceback: bool = False
    seconds: float = 0.0
    message: str = ""

    @property
    def full(self) -> bool:
        """Imported fully: no Unsupported block, the same parameter count, exported outputs equal."""
        return (self.exit == 0 and self.unsupported == 0 and self.params is not None
                and self.params[0] == self.params[1] and self.within)


def cli(*argv: str) -> tuple[int, str]:
    """runtime.cli.main in this process, its stdout and stderr captured together."""
    from runtime.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 2
    return int(code), out.getvalue()


def build(model: Model) -> nn.Module:
    module = zoo if model.file.name == "zoo.py" else own_models
    torch.manual_seed(0)
    made = getattr(module, model.name)()
    with torch.no_grad():
        for m in made.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
    return made.eval()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a shared one once


def _inputs(model: Model, original: nn.Module, batch: int, generator) -> list[torch.Tensor]:
    import inspect

    from runtime.importing.importer import parse_shapes

    unnamed, named = parse_shapes(list(model.shapes))
    names = [p.name for p in inspect.signature(original.forward).parameters.values()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    values = []
    for i, name in enumerate(names):
        shape = named.get(name) or (unnamed if i == 0 else None)
        if shape is None:
            break
        if _is_tokens(original, name, len(shape)):
            values.append(torch.randint(0, _vocab(original), (batch, *shape), generator=generator))
        else:
            values.append(torch.randn(batch, *shape, generator=generator))
    return values


def _is_tokens(original: nn.Module, name: str, rank: int) -> bool:
    return rank == 1 and any(isinstance(m, nn.Embedding) for m in original.modules()) and \
        name in ("input_ids", "tokens", "idx")


def _vocab(original: nn.Module) -> int:
    return min(m.num_embeddings for m in original.modules() if isinstance(m, nn.Embedding))


def _outputs(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [t for v in value for t in _outputs(v)] if isinstance(value, (tuple, list)) else []


def compare(want, got) -> tuple[float, bool]:
    want, got = _outputs(want), _outputs(got)
    if len(want) != len(got) or any(w.shape != g.shape for w, g in zip(want, got)):
        return float("inf"), False
    worst, within = 0.0, True
    for w, g in zip(want, got):
        d = (w.double() - g.double()).abs()
        worst = max(worst, float(d.max()))
        within = within and bool((d <= ATOL + RTOL * w.double().abs()).all())
    return worst, within


def _project_blocks(path: Path) -> Counter:
    import json

    project = json.loads(path.read_text())
    return Counter(b["type"] for net in project["networks"] for b in net["blocks"].values()) \
        if isinstance(project["networks"][0]["blocks"], dict) else \
        Counter(b["type"] for net in project["networks"] for b in net["blocks"])


def _data_option(model: Model, original: nn.Module, folder: Path) -> str:
    """--data for a few training steps: random arrays of the input's shape, or text for token ids."""
    x = _inputs(model, original, 2, torch.Generator().manual_seed(1))[0]
    if x.dtype == torch.int64:
        with torch.no_grad():
            per_step = _outputs(original(x))[0].dim() == 3
        if per_step:  # a language model: text gives the next-token targets
            return f"pydoc_text:vocab=ascii,length={x.shape[1]},max_chars=3000"
        # a classifier of token ids: integer arrays with one class each (they stay int64 ids)
    return f"arrays:path={_training_data(model, original, folder)}"


def _training_data(model: Model, original: nn.Module, folder: Path) -> Path | None:
    """An .npz of 24 random samples of the inputs' shapes, labels fitting the head: x (one input), or
    one array per forward() argument (several inputs: the arrays source feeds them side by side)."""
    import inspect

    generator = torch.Generator().manual_seed(1)
    inputs = _inputs(model, original, 24, generator)
    if not inputs:
        return None
    with torch.no_grad():
        out = _outputs(original(*inputs))[0]
    names = [p.name for p in inspect.signature(original.forward).parameters.values()][:len(inputs)]
    arrays = {"x": inputs[0].numpy()} if len(inputs) == 1 else {n: v.numpy() for n, v in zip(names, inputs)}
    if model.head == "classification":
        y = torch.randint(0, out.shape[-1], out.shape[:-1], generator=generator)
    elif model.head == "binary":
        y = torch.randint(0, 2, out.shape, generator=generator).float()
    else:
        y = torch.randn(out.shape, generator=generator)
    path = folder / "data.npz"
    np.savez(path, **arrays, y=y.numpy())
    return path


def import_model(model: Model, folder: Path) -> tuple[nn.Module, Path, int, str]:
    """`deepwire import` of one corpus model with its seeded weights: (original, project file, exit
    code, printed text); the project lands at folder/model.dw.json, its weights beside it."""
    original = build(model)
    state = folder / "original.pt"
    torch.save(original.state_dict(), state)
    project = folder / "model.dw.json"
    argv = ["import", f"{model.file}:{model.name}", "-o", str(project), "--weights", str(state)]
    for shape in model.shapes:
        argv += ["--input-shape", shape]
    code, text = cli(*argv, "--head", model.head)
    return original, project, code, text


def measure(model: Model, folder: Path) -> Row:
    started = time.perf_counter()
    row = Row(model.name)
    original, project, row.exit, text = import_model(model, folder)
    row.traceback = "Traceback" in text
    row.message = _first_problem(text)
    if row.exit == 2 or not project.exists():
        row.seconds = time.perf_counter() - started
        return row
    blocks = _project_blocks(project)
    row.unsupported = blocks.get("Unsupported", 0)
    if row.unsupported or row.exit != 0:
        row.seconds = time.perf_counter() - started
        return row
    _exported(row, model, original, project, folder, blocks)
    row.seconds = time.perf_counter() - started
    return row


def _exported(row: Row, model: Model, original: nn.Module, project: Path, folder: Path, blocks) -> None:
    from runtime.importing.source import find_models

    code = folder / "exported.py"
    weights = project.with_name("model.weights.pt")
    status, text = cli("export", str(project), "--format", "python", "-o", str(code),
                       "--weights", str(weights))
    row.traceback = row.traceback or "Traceback" in text
    if status != 0:
        row.message = f"export exit {status}: {_first_problem(text)}"
        return
    exported = find_models(str(code))[0].model
    exported.load_state_dict(torch.load(code.with_suffix(".pt"), weights_only=True))
    exported.eval()
    row.params = (parameter_count(exported), parameter_count(original))
    batch = _inputs(model, original, COMPARE_BATCH, torch.Generator().manual_seed(5))
    with torch.no_grad():
        row.max_diff, row.within = compare(original(*batch), exported(*batch))
    status, text = cli("import", str(code), "-o", str(folder / "again.dw.json"))
    row.traceback = row.traceback or "Traceback" in text
    again = folder / "again.dw.json"
    row.round_trip = "same" if status == 0 and again.exists() and _project_blocks(again) == blocks \
        else f"differs (exit {status})"
    data = _data_option(model, original, folder)
    if data.startswith("n/a"):
        row.train = data
        return
    status, text = cli("train", str(project), "--data", data, "--epochs", "1", "--quiet",
                       "--batch-size", "8", "--out", str(folder / "run"), "--threads", "1")
    row.traceback = row.traceback or "Traceback" in text
    row.train = "ok" if status == 0 else f"exit {status}: {_first_problem(text)[:60]}"


def _first_problem(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("- ") or stripped.startswith("deepwire:") or stripped.startswith("problem:"):
            return stripped.lstrip("- ")
    return ""


def table(rows: list[Row]) -> str:
    head = f"{'model':<24} {'exit':>4} {'unsup':>5} {'params':<22} {'max diff':>9} {'round trip':<11} " \
           f"{'train':<16} {'s':>5}"
    lines = [head, "-" * len(head)]
    for r in rows:
        params = "-" if r.params is None else \
            (f"equal {r.params[0]}" if r.params[0] == r.params[1] else f"{r.params[0]} vs {r.params[1]}")
        diff = "-" if r.max_diff is None else f"{r.max_diff:.1e}"
        lines.append(f"{r.name:<24} {r.exit if r.exit is not None else '-':>4} "
                     f"{r.unsupported if r.unsupported is not None else '-':>5} {params:<22} {diff:>9} "
                     f"{r.round_trip:<11} {r.train[:16]:<16} {r.seconds:5.1f}"
                     + (f"  {r.message[:90]}" if not r.full and r.message else ""))
    return "\n".join(lines)
