"""Dense blocks: Linear, Flatten, Reshape, Permute, Embedding, Identity."""

from __future__ import annotations

from graph.params import Bool, Int, Tuple
from graph.pycode import call
from graph.shapes import axes_range, expect_rank, format_shape, numel
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Dense"


def _linear_shape(p, ins):
    x = ins["x"]
    expect_rank(x, (1, 2), "x", "a flat (B, F) input or a sequence (B, T, F)",
                fix="Flatten" if len(x) > 2 else None)
    return (*x[:-1], p["features"])


def _linear_count(p, ins, out):
    return ins["x"][-1] * p["features"] + (p["features"] if p["bias"] else 0)


def _linear_code(p, ins, out):
    extra = {} if p["bias"] else {"bias": False}
    return Emission(call("nn.Linear", ins["x"][-1], p["features"], **extra), "{self}({x})")


LINEAR = BlockSpec(
    "Linear", "Linear", CATEGORY,
    "Fully connected layer: every output is a learned weighted sum of all input features.",
    infer=_linear_shape, emit=_linear_code, count=_linear_count,
    inputs=(Port("x", ranks=(1, 2)),),
    params=(
        Int("features", 64, 1, 10_000_000, "Number of output features."),
        Bool("bias", True, "Learn an offset added to each output."),
    ),
    summary=("features",),
)


def _flatten_shape(p, ins):
    x = ins["x"]
    return (numel(x),)


FLATTEN = BlockSpec(
    "Flatten", "Flatten", CATEGORY,
    "Turns each sample into one flat vector, e.g. (B, 16, 5, 5) into (B, 400), before Linear.",
    infer=_flatten_shape, emit=lambda p, ins, out: Emission(None, "{x}.flatten(1)"),
)



def _sizes(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _reshape_shape(p, ins):
    x, target = ins["x"], p["shape"]
    total = numel(x)
    known = numel(tuple(d for d in target if d != -1))
    if -1 in target:
        if total % known:
            raise ShapeError(
                f"cannot arrange the {total} values of each input sample {format_shape(x)} as "
                f"{_sizes(target)}: the given sizes multiply to {known}, which does not divide {total}",
                param="shape")
        return tuple(total // known if d == -1 else d for d in target)
    if known != total:
        raise ShapeError(
            f"needs as many values as it receives: its input {format_shape(x)} holds {total} values "
            f"per sample but shape {_sizes(target)} holds {known}; use -1 for one size to have it "
            "worked out", param="shape")
    return target


RESHAPE = BlockSpec(
    "Reshape", "Reshape", CATEGORY,
    "Rearranges each sample's values into a new shape, e.g. (B, 784) into (B, 1, 28, 28).",
    infer=_reshape_shape,
    # the batch stays first; the per-sample sizes are spelled out as inferred
    emit=lambda p, ins, out: Emission(None, call("{x}.reshape", -1, *out)),
    params=(
        Tuple("shape", (-1,), 1, 10_000_000,
              "New sizes after the batch, e.g. (1, 28, 28); one entry may be -1 to work it out.",
              length=(1, 4), allow_minus_one=True),
    ),
    summary=("shape",),
)


def _permute_shape(p, ins):
    x, dims = ins["x"], p["dims"]
    rank = len(x)
    if sorted(dims) != list(range(1, rank + 1)):
        example = _sizes(range(rank, 0, -1)) if rank > 1 else "(1,)"
        raise ShapeError(
            f"needs dims to name {axes_range(rank)} of its input {format_shape(x)}, each exactly once, "
            f"e.g. {example}; got {_sizes(dims)}", param="dims")
    return tuple(x[d - 1] for d in dims)


PERMUTE = BlockSpec(
    "Permute", "Permute", CATEGORY,
    "Reorders the axes after the batch: dims (2, 1) turns a sequence (B, T, F) into (B, F, T).",
    infer=_permute_shape,
    emit=lambda p, ins, out: Emission(None, call("{x}.permute", 0, *p["dims"])),
    params=(
        Tuple("dims", (2, 1), 1, 4,
              "New order of the axes after the batch, counted from 1: (2, 1) swaps two axes.",
              length=(1, 4)),
    ),
    summary=("dims",),
)


def _embedding_shape(p, ins):
    x = ins["x"]
    if len(x) != 1:
        hint = ": a sequence of features needs no Embedding, wire it straight into Linear" \
            if len(x) == 2 else ""
        raise ShapeError(
            f"expects token ids (B, T) from a Token ids input but receives {format_shape(x)}{hint}", port="x")
    return (x[0], p["dim"])


EMBEDDING = BlockSpec(
    "Embedding", "Embedding", CATEGORY,
    "Looks up a learned vector for each token id: (B, T) ids become (B, T, dim). Feed it a Token ids input.",
    infer=_embedding_shape,
    emit=lambda p, ins, out: Emission(call("nn.Embedding", p["vocab_size"], p["dim"]), "{self}({x})"),
    count=lambda p, ins, out: p["vocab_size"] * p["dim"],
    inputs=(Port("x", "token ids (B, T)", ranks=(1,)),),
    params=(
        Int("vocab_size", 128, 2, 10_000_000,
            "How many token ids it knows; at least the Token ids input's vocab_size."),
        Int("dim", 32, 1, 65_536, "Length of the vector learned for each token."),
    ),
    summary=("dim",),
    tags=("token_ids",),  # its input must hold integer token ids, not float features
)

IDENTITY = BlockSpec(
    "Identity", "Identity", CATEGORY,
    "Passes its input on unchanged: a named point to branch from, or a stand-in for a layer to add later.",
    infer=lambda p, ins: ins["x"], emit=lambda p, ins, out: Emission(None, "{x}"), same_shape=True,
)

BLOCKS = (LINEAR, FLATTEN, RESHAPE, PERMUTE, EMBEDDING, IDENTITY)
