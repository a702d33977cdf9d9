"""Dense blocks: Linear, Flatten, Reshape, Permute, Slice, Select, Embedding, Identity.

A block has one output, so a tensor split into pieces (torch.chunk, split,
unbind) is one Slice (or Select) block per piece, each reading the same
input: every piece is then a wire of its own, named and placed like any
other value.
"""

from __future__ import annotations

from graph.params import Bool, Int, Tuple
from graph.pycode import call
from graph.shapes import axes_range, axis_name, expect_rank, format_shape, normalize_axis, numel
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Dense"


def _linear_shape(p, ins):
    x = ins["x"]
    if not p["per_position"]:
        # an image wired straight into Linear is almost always a forgotten Flatten: say so
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
    "Fully connected layer: every output is a learned weighted sum of all input features (the last "
    "axis). With per_position it applies at every position of any input, as torch's Linear does.",
    infer=_linear_shape, emit=_linear_code, count=_linear_count,
    inputs=(Port("x", "(B, F) or a sequence (B, T, F); with per_position (B, ..., F) of any rank"),),
    params=(
        Int("features", 64, 1, 10_000_000, "Number of output features."),
        Bool("bias", True, "Learn an offset added to each output."),
        Bool("per_position", False,
             "Apply to the last axis at every position of an input of any rank, e.g. a channels-last "
             "image (B, H, W, C) becomes (B, H, W, features), as in ConvNeXt. Off: takes (B, F) or "
             "(B, T, F), so an image wired in without a Flatten is caught."),
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


def _axis(p, x, words: str) -> int:
    """The block's axis as 1..rank, or a ShapeError naming the axes its input has."""
    if p["axis"] == 0:
        raise ShapeError(f"has axis 0, the batch axis, but it {words} each sample: use an axis from 1 "
                         "(or -1 for the last)", param="axis")
    axis = normalize_axis(p["axis"], len(x))
    if axis is None:
        raise ShapeError(f"has axis {p['axis']}, but its input {format_shape(x)} only has "
                         f"{axes_range(len(x))} (or -1 to -{len(x)} from the end)", param="axis")
    return axis


def _index_text(axis: int, item: str) -> str:
    """x[:, :, item]: the item on axis `axis` (1-based after the batch), every other axis whole."""
    return "[" + ", ".join([":"] * axis + [item]) + "]"


def _slice_range(p, size: int) -> range:
    end = None if p["end"] == "end" else p["end"]
    return range(*slice(p["start"], end, p["step"]).indices(size))


def _slice_shape(p, ins):
    x = ins["x"]
    axis = _axis(p, x, "cuts a range out of")
    kept = len(_slice_range(p, x[axis - 1]))
    if kept == 0:
        raise ShapeError(
            f"keeps nothing: start {p['start']} to end {p['end']} of {axis_name(axis, len(x))} of its input "
            f"{format_shape(x)}, which has {x[axis - 1]} entries: choose start below end (negative "
            "values count from the end)", param="start")
    return (*x[: axis - 1], kept, *x[axis:])


def _slice_code(p, ins, out):
    axis = normalize_axis(p["axis"], len(ins["x"]))
    end = "" if p["end"] == "end" else str(p["end"])
    start = str(p["start"]) if p["start"] else ""
    item = f"{start}:{end}" + (f":{p['step']}" if p["step"] != 1 else "")
    return Emission(None, "{x}" + _index_text(axis, item))


SLICE = BlockSpec(
    "Slice", "Slice", CATEGORY,
    "Keeps a range of one axis, like x[:, start:end]: e.g. the first half of the channels. Several "
    "Slices of one input give the pieces torch.chunk or torch.split would.",
    infer=_slice_shape, emit=_slice_code,
    params=(
        Int("axis", -1, -4, 4, "Axis to cut, counted after the batch from 1; -1 is the last."),
        Int("start", 0, -1_000_000, 1_000_000, "First entry kept, from 0; negative counts from the end."),
        Int("end", "end", -1_000_000, 1_000_000,
            "Entry after the last one kept (exclusive, as in Python); 'end' keeps up to the end.",
            specials=("end",)),
        Int("step", 1, 1, 1_000_000, "Keep every step-th entry: 2 keeps every other one."),
    ),
    summary=("axis", "start", "end"),
)


def _select_shape(p, ins):
    x = ins["x"]
    if len(x) == 1:
        end = p["index"] + 1 if p["index"] != -1 else "end"
        raise ShapeError(
            f"would leave a single number per sample from its input {format_shape(x)}: use Slice with "
            f"start {p['index']} and end {end} instead, to keep it as (B, 1)", port="x")
    axis = _axis(p, x, "picks one entry of")
    size, index = x[axis - 1], p["index"]
    if not -size <= index < size:
        raise ShapeError(
            f"has index {index}, but {axis_name(axis, len(x))} of its input {format_shape(x)} has {size} "
            f"entries: use 0 to {size - 1}, or -1 to -{size} from the end", param="index")
    return (*x[: axis - 1], *x[axis:])


SELECT = BlockSpec(
    "Select", "Select", CATEGORY,
    "Picks one entry of an axis and drops that axis, like x[:, 0]: a Transformer's class token, or the "
    "last time step x[:, -1] of an LSTM's output sequence.",
    infer=_select_shape,
    emit=lambda p, ins, out: Emission(
        None, "{x}" + _index_text(normalize_axis(p["axis"], len(ins["x"])), str(p["index"]))),
    inputs=(Port("x", ranks=(2, 3)),),
    params=(
        Int("axis", 1, -4, 4, "Axis to pick from, counted after the batch from 1 (1: the steps of a "
            "sequence); -1 is the last."),
        Int("index", 0, -1_000_000, 1_000_000, "Which entry, from 0; -1 is the last (e.g. the last step)."),
    ),
    summary=("axis", "index"),
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

BLOCKS = (LINEAR, FLATTEN, RESHAPE, PERMUTE, SLICE, SELECT, EMBEDDING, IDENTITY)
