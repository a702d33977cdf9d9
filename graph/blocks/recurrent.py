"""Recurrent blocks: RNN, LSTM, GRU.

All three read a sequence (B, T, F) one step at a time (batch_first=True)
and return either every step's output (B, T, H·dirs) or only the final
state (B, H·dirs). "last" reads the final hidden state h_n rather than the
last output step, so a bidirectional block gets the backward direction's
summary of the *whole* sequence (its state after reading step 0), not its
state after reading only the last step.

`expect_sequence` is shared with the attention blocks.
"""

from __future__ import annotations

from graph.params import Bool, Choice, Float, Int
from graph.pycode import call
from graph.shapes import describe_rank, format_shape
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Recurrent"

# how many weight matrices each kind of cell learns per direction and layer
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def expect_sequence(shape, port: str, letters: str = "(B, T, F)") -> None:
    """Refuse anything but a sequence, saying how to turn what arrived into one.

    The suggested fix is a Reshape whose `shape` already holds the sizes the message names.
    """
    if len(shape) == 2:
        return
    received = f"{describe_rank(len(shape)).split(' (')[0]} {format_shape(shape)}"
    reshape_to = None
    if len(shape) == 1:
        reshape_to = (shape[0], 1)
        how = (f"feed token ids through an Embedding first; Reshape other vectors into {letters}, "
               f"e.g. {format_shape(reshape_to)}: {shape[0]} steps of 1 feature")
    elif len(shape) == 3 and shape[0] == 1:
        reshape_to = shape[1:]
        how = f"Reshape it to {format_shape(reshape_to)} so each row of pixels becomes one step"
    elif len(shape) == 3:
        reshape_to = (shape[0], shape[1] * shape[2])
        how = (f"Reshape the image to {format_shape(reshape_to)}, then Permute it to "
               f"(B, {shape[1] * shape[2]}, {shape[0]}) so each pixel becomes one step")
    else:
        how = f"Reshape it into {letters}"
    raise ShapeError(f"expects a sequence {letters} but receives {received}: {how}", port=port,
                     fix="Reshape", fix_params={"shape": reshape_to} if reshape_to else None)


def _recurrent_shape(p, ins):
    x = ins["x"]
    expect_sequence(x, "x")
    if p["dropout"] > 0 and p["num_layers"] == 1:
        raise ShapeError(
            f"has dropout {p['dropout']:g} but a single layer, and dropout only acts between layers: "
            "set num_layers to 2 or more or dropout to 0", param="dropout", set_params={"dropout": 0.0})
    features = p["hidden_size"] * (2 if p["bidirectional"] else 1)
    return (x[0], features) if p["output"] == "sequence" else (features,)


def _recurrent_count(kind):
    def count(p, ins, out):
        gates, hidden = GATES[kind], p["hidden_size"]
        directions = 2 if p["bidirectional"] else 1
        total = 0
        for layer in range(p["num_layers"]):
            inputs = ins["x"][-1] if layer == 0 else hidden * directions
            # weight_ih, weight_hh, bias_ih, bias_hh per direction
            total += directions * gates * hidden * (inputs + hidden + 2)
        return total
    return count


def _recurrent_code(kind):
    def emit(p, ins, out):
        options = {}
        if p["num_layers"] != 1:
            options["num_layers"] = p["num_layers"]
        if kind == "RNN" and p["nonlinearity"] != "tanh":
            options["nonlinearity"] = p["nonlinearity"]
        options["batch_first"] = True
        if p["dropout"]:
            options["dropout"] = p["dropout"]
        if p["bidirectional"]:
            options["bidirectional"] = True
        module = call(f"nn.{kind}", ins["x"][-1], p["hidden_size"], **options)
        if p["output"] == "sequence":
            return Emission(module, "{self}({x})[0]")
        # h_n is (layers·dirs, B, H); an LSTM returns (h_n, c_n) as its second value
        final = "{self}({x})[1][0]" if kind == "LSTM" else "{self}({x})[1]"
        if p["bidirectional"]:
            # the top layer's forward and backward states, joined like the per-step outputs
            return Emission(module, final + "[-2:].transpose(0, 1).flatten(1)")
        return Emission(module, final + "[-1]")
    return emit


def _params(kind):
    params = [
        Int("hidden_size", 64, 1, 65_536,
            "Size of the memory carried from step to step (H); bigger remembers more but is slower."),
        Int("num_layers", 1, 1, 16, "Recurrent layers stacked on top of each other."),
    ]
    if kind == "RNN":
        params.append(Choice("nonlinearity", "tanh", ("tanh", "relu"),
                             "Squashing function of the cell: tanh (usual) or relu."))
    params += [
        Bool("bidirectional", False,
             "Also read the sequence backwards and join both readings: the output size doubles to 2·H."),
        Float("dropout", 0.0, 0.0, 0.99,
              "Share of values zeroed between stacked layers while training (needs 2 or more layers)."),
        Choice("output", "sequence", ("sequence", "last"),
               "sequence: one output per step (B, T, H); last: only the final state (B, H), "
               "e.g. to classify a whole sequence."),
    ]
    return tuple(params)


def _recurrent(kind, title, help_text):
    return BlockSpec(
        kind, title, CATEGORY, help_text,
        infer=_recurrent_shape, emit=_recurrent_code(kind), count=_recurrent_count(kind),
        inputs=(Port("x", "A sequence (B, T, F).", ranks=(2,)),),
        params=_params(kind),
        summary=("hidden_size", "num_layers", "output"),
    )


RNN = _recurrent(
    "RNN", "RNN",
    "Simple recurrent network: reads a sequence step by step, keeping a memory; forgets quickly.")
LSTM = _recurrent(
    "LSTM", "LSTM",
    "Long short-term memory: a recurrent layer with gates that decide what to keep, so it remembers "
    "over long sequences.")
GRU = _recurrent(
    "GRU", "GRU",
    "Gated recurrent unit: like LSTM with fewer gates; often as good and a little faster.")

BLOCKS = (RNN, LSTM, GRU)
