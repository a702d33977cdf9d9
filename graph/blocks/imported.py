"""Blocks that only an import creates: a placeholder for an operation DeepWire has no block for.

When `deepwire import` meets an operation of the imported model that no
block of the catalog expresses (torch.fft.fft, a custom module, an ONNX
operator), it is not dropped: it becomes an Unsupported block wired where the
operation was, named after it. Its shape rule always refuses, so the block
shows as a clear problem on the canvas and in `deepwire check`, naming the
operation and what to do, and the project cannot train or export until the
user replaces or removes it.
"""

from __future__ import annotations

from graph.params import Int, Text, Tuple
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Imported"


def _refuse(p, ins):
    why = f"which DeepWire cannot express exactly: {p['detail']}" if p["detail"] else \
        "which has no DeepWire block"
    shape = ", ".join(["B", *map(str, p["shape"])]) if p["shape"] else ""
    produced = f"; in the original model it produced ({shape})" if shape else ""
    raise ShapeError(f"stands for '{p['operation']}' of the imported model, {why}{produced}: "
                     "replace this block with blocks that compute the same, or remove it")


UNSUPPORTED = BlockSpec(
    "Unsupported", "Unsupported operation", CATEGORY,
    "An operation of an imported model that DeepWire has no block for; replace it or remove it.",
    infer=_refuse,
    emit=lambda p, ins, out: Emission(None, ""),  # never reached: the shape rule always refuses
    variadic="inputs",
    inputs=(Port("in"),),
    params=(
        Text("operation", "unknown", "The imported model's operation this block stands for."),
        Text("detail", "", "Why it could not become a DeepWire block, when there is more to say."),
        Int("inputs", 1, 1, 16, "How many tensors the operation received."),
        Tuple("shape", (), 0, 10_000_000, "The output shape (without the batch) in the imported model.",
              length=(0, 8)),
    ),
    summary=("operation",),
    tags=("placeholder",),  # never valid: the catalog test covers it with refusal cases only
)

BLOCKS = (UNSUPPORTED,)
