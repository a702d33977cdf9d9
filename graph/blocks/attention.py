"""Attention blocks: self- and cross-attention, Transformer blocks, positional encodings, class token.

All work on sequences (B, T, D) and take D from their input. Their code uses
the small helper classes of graph.helpers_src (which wrap torch's own
nn.MultiheadAttention and nn.Transformer*Layer), so parameter counts and
state_dict keys are torch's.
"""

from __future__ import annotations

from graph.blocks.recurrent import expect_sequence
from graph.params import Bool, Choice, Float, Int
from graph.pycode import call
from graph.shapes import format_shape
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Attention"

SEQUENCE = "(B, T, D)"


def _check_heads(dim: int, heads: int) -> None:
    if dim % heads == 0:
        return
    choices = [n for n in range(1, dim + 1) if dim % n == 0][:8]
    raise ShapeError(
        f"cannot split {dim} features into {heads} equal heads: set heads to one of "
        f"{', '.join(map(str, choices))}, or make the feature size a multiple of {heads}",
        port="x", param="heads", set_params={"heads": max(n for n in choices if n <= heads)})


def _attention_count(dim: int, context_dim: int | None = None) -> int:
    """Parameters of nn.MultiheadAttention: query/key/value and output projections with biases."""
    context_dim = dim if context_dim is None else context_dim
    return dim * dim + 2 * dim * context_dim + 3 * dim + dim * dim + dim


def _feedforward_count(dim: int, hidden: int) -> int:
    return dim * hidden + hidden + hidden * dim + dim


# --- shared parameters ---

def _heads(default=4):
    return Int("heads", default, 1, 1024,
               "Attention heads looking at the sequence in parallel; must divide the feature size D.")


def _dropout(default, what):
    return Float("dropout", default, 0.0, 0.99, f"Share of {what} zeroed at random while training.")


def _causal(default):
    return Bool("causal", default,
                "Each step sees only itself and earlier steps, never the future (for generating text).")


NORM_FIRST = Bool("norm_first", True,
                  "Normalise before attention and feed-forward (pre-norm, trains more stably); "
                  "off: the original 2017 layout, normalising after.")
ACTIVATION = Choice("activation", "gelu", ("gelu", "relu"),
                    "Non-linearity of the feed-forward part: gelu (DeepWire's default, as in BERT and GPT) "
                    "or relu (torch's nn.Transformer default and the 2017 paper's).")
FEEDFORWARD = Int("feedforward", 256, 1, 1_000_000,
                  "Hidden size of the feed-forward part; often 4 times the feature size D.")


def _helper_call(name, *args, defaults, p):
    """`name(*args, ...)` with each parameter passed only when it differs from the helper's default."""
    options = {key: p[key] for key, default in defaults.items() if p[key] != default}
    return call(name, *args, **options)


# --- Self-attention ---

def _self_attention_shape(p, ins):
    x = ins["x"]
    expect_sequence(x, "x", SEQUENCE)
    _check_heads(x[-1], p["heads"])
    return x


def _self_attention_code(p, ins, out):
    module = _helper_call("SelfAttention", ins["x"][-1], p["heads"],
                          defaults={"dropout": 0.0, "causal": False}, p=p)
    return Emission(module, "{self}({x})", helpers=("SelfAttention",))


SELF_ATTENTION = BlockSpec(
    "SelfAttention", "Self-attention", CATEGORY,
    "Every step of a sequence looks at every other step and mixes in what is relevant to it.",
    infer=_self_attention_shape, emit=_self_attention_code,
    count=lambda p, ins, out: _attention_count(ins["x"][-1]),
    inputs=(Port("x", "A sequence (B, T, D).", ranks=(2,)),),
    params=(_heads(), _dropout(0.0, "attention weights"), _causal(False)),
    summary=("heads", "causal"),
    same_shape=True,
)


# --- Cross-attention ---

def _cross_attention_shape(p, ins):
    x, context = ins["x"], ins["context"]
    expect_sequence(x, "x", SEQUENCE)
    expect_sequence(context, "context", "(B, S, E)")
    _check_heads(x[-1], p["heads"])
    return x


def _cross_attention_code(p, ins, out):
    dim, context_dim = ins["x"][-1], ins["context"][-1]
    extra = {"context_dim": context_dim} if context_dim != dim else {}
    options = {"dropout": p["dropout"]} if p["dropout"] else {}
    module = call("CrossAttention", dim, p["heads"], **extra, **options)
    return Emission(module, "{self}({x}, {context})", helpers=("CrossAttention",))


CROSS_ATTENTION = BlockSpec(
    "CrossAttention", "Cross-attention", CATEGORY,
    "Each step of x looks up what is relevant to it in another sequence, the context "
    "(e.g. a translation looking at its source sentence).",
    infer=_cross_attention_shape, emit=_cross_attention_code,
    count=lambda p, ins, out: _attention_count(ins["x"][-1], ins["context"][-1]),
    inputs=(Port("x", "The sequence asking (queries), (B, T, D).", ranks=(2,)),
            Port("context", "The sequence looked at (keys and values), (B, S, E).", ranks=(2,))),
    params=(_heads(), _dropout(0.0, "attention weights")),
    summary=("heads",),
)


# --- Transformer encoder and decoder blocks ---

def _encoder_shape(p, ins):
    x = ins["x"]
    expect_sequence(x, "x", SEQUENCE)
    _check_heads(x[-1], p["heads"])
    return x


def _encoder_count(p, ins, out):
    dim = ins["x"][-1]
    # attention, feed-forward, and two LayerNorms (weight and bias each)
    return _attention_count(dim) + _feedforward_count(dim, p["feedforward"]) + 2 * 2 * dim


ENCODER_DEFAULTS = {"dropout": 0.1, "causal": False, "norm_first": True, "activation": "gelu"}


def _encoder_code(p, ins, out):
    module = _helper_call("TransformerEncoderBlock", ins["x"][-1], p["heads"], p["feedforward"],
                          defaults=ENCODER_DEFAULTS, p=p)
    return Emission(module, "{self}({x})", helpers=("TransformerEncoderBlock",))


TRANSFORMER_ENCODER = BlockSpec(
    "TransformerEncoderBlock", "Transformer encoder", CATEGORY,
    "One Transformer layer: self-attention then a small feed-forward network, each with a "
    "skip connection and layer norm. Stack several for a Transformer.",
    infer=_encoder_shape, emit=_encoder_code, count=_encoder_count,
    inputs=(Port("x", "A sequence (B, T, D).", ranks=(2,)),),
    params=(_heads(), FEEDFORWARD, _dropout(0.1, "values"), _causal(False), NORM_FIRST, ACTIVATION),
    summary=("heads", "feedforward", "causal"),
    same_shape=True,
)


def _decoder_shape(p, ins):
    x, memory = ins["x"], ins["memory"]
    expect_sequence(x, "x", SEQUENCE)
    expect_sequence(memory, "memory", "(B, S, D)")
    if memory[-1] != x[-1]:
        raise ShapeError(
            f"needs memory with the same feature size as x ({x[-1]}) but receives memory "
            f"{format_shape(memory)}: put a Linear with {x[-1]} features on the memory wire",
            port="memory", fix="Linear", fix_params={"features": x[-1]})
    _check_heads(x[-1], p["heads"])
    return x


def _decoder_count(p, ins, out):
    dim = ins["x"][-1]
    # self-attention, cross-attention, feed-forward, and three LayerNorms
    return 2 * _attention_count(dim) + _feedforward_count(dim, p["feedforward"]) + 3 * 2 * dim


def _decoder_code(p, ins, out):
    module = _helper_call("TransformerDecoderBlock", ins["x"][-1], p["heads"], p["feedforward"],
                          defaults={"dropout": 0.1, "causal": True, "norm_first": True, "activation": "gelu"},
                          p=p)
    return Emission(module, "{self}({x}, {memory})", helpers=("TransformerDecoderBlock",))


TRANSFORMER_DECODER = BlockSpec(
    "TransformerDecoderBlock", "Transformer decoder", CATEGORY,
    "One Transformer decoder layer: causal self-attention over x, attention to the encoder's "
    "output (memory), then a feed-forward network.",
    infer=_decoder_shape, emit=_decoder_code, count=_decoder_count,
    inputs=(Port("x", "The sequence being generated (B, T, D).", ranks=(2,)),
            Port("memory", "The encoder's output (B, S, D).", ranks=(2,))),
    params=(_heads(), FEEDFORWARD, _dropout(0.1, "values"), _causal(True), NORM_FIRST, ACTIVATION),
    summary=("heads", "feedforward"),
)


# --- Positional encoding ---

ENCODING_CLASSES = {"sinusoidal": "SinusoidalPositionalEncoding", "learned": "LearnedPositionalEncoding"}


def _positional_shape(p, ins):
    x = ins["x"]
    expect_sequence(x, "x", SEQUENCE)
    if x[0] > p["max_length"]:
        raise ShapeError(
            f"handles at most {p['max_length']} steps (max_length) but receives {format_shape(x)}, "
            f"{x[0]} steps: set max_length to at least {x[0]}", param="max_length",
            set_params={"max_length": x[0]})
    return x


def _positional_code(p, ins, out):
    name = ENCODING_CLASSES[p["kind"]]
    module = _helper_call(name, ins["x"][-1], defaults={"max_length": 512}, p=p)
    return Emission(module, "{self}({x})", helpers=(name,))


POSITIONAL_ENCODING = BlockSpec(
    "PositionalEncoding", "Positional encoding", CATEGORY,
    "Adds to each step a signal saying where it is, since attention alone cannot tell order.",
    infer=_positional_shape, emit=_positional_code,
    count=lambda p, ins, out: p["max_length"] * ins["x"][-1] if p["kind"] == "learned" else 0,
    inputs=(Port("x", "A sequence (B, T, D), e.g. from an Embedding.", ranks=(2,)),),
    params=(
        Choice("kind", "sinusoidal", tuple(ENCODING_CLASSES),
               "sinusoidal: fixed sine waves, nothing to learn; learned: one trained vector per "
               "position."),
        Int("max_length", 512, 1, 1_000_000, "Longest sequence it accepts; must be at least T."),
    ),
    summary=("kind",),
    same_shape=True,
)


# --- Class token ---

def _class_token_shape(p, ins):
    x = ins["x"]
    expect_sequence(x, "x", SEQUENCE)
    return (x[0] + 1, x[1])


CLASS_TOKEN = BlockSpec(
    "ClassToken", "Class token", CATEGORY,
    "Puts one learned token in front of each sequence, (B, T, D) into (B, T + 1, D): attention gathers "
    "a summary of the whole sequence into it, read at the end by a Select of step 0 (ViT, BERT's [CLS]).",
    infer=_class_token_shape,
    emit=lambda p, ins, out: Emission(call("ClassToken", ins["x"][-1]), "{self}({x})",
                                      helpers=("ClassToken",)),
    count=lambda p, ins, out: ins["x"][-1],
    inputs=(Port("x", "A sequence (B, T, D), e.g. image patches.", ranks=(2,)),),
)


# --- Scaled dot-product attention (torch's function, on queries, keys and values computed elsewhere) ---

def _sdpa_shape(p, ins):
    q, k, v = ins["q"], ins["k"], ins["v"]
    for port, shape in (("q", q), ("k", k), ("v", v)):
        if len(shape) not in (2, 3):
            raise ShapeError(f"expects {port} as a sequence (B, T, E) or split into heads (B, H, T, E) but "
                             f"receives {format_shape(shape)}", port=port)
    if not len(q) == len(k) == len(v):
        raise ShapeError(f"needs q, k and v with the same number of axes but receives q {format_shape(q)}, "
                         f"k {format_shape(k)} and v {format_shape(v)}", port="k")
    if q[:-2] != k[:-2] or k[:-2] != v[:-2]:
        raise ShapeError(f"needs q, k and v with the same number of heads but receives q {format_shape(q)}, "
                         f"k {format_shape(k)} and v {format_shape(v)}", port="k")
    if k[-1] != q[-1]:
        raise ShapeError(f"compares each query with each key, so k needs q's {q[-1]} features per step but "
                         f"receives {format_shape(k)}: give the key projection {q[-1]} features", port="k")
    if v[-2] != k[-2]:
        raise ShapeError(f"needs one value per key: k has {k[-2]} steps but v {format_shape(v)} has {v[-2]}",
                         port="v")
    return (*q[:-1], v[-1])


def _sdpa_code(p, ins, out):
    options = []
    if p["dropout"]:
        options.append(f"dropout_p={p['dropout']!r} if self.training else 0.0")
    if p["causal"]:
        options.append("is_causal=True")
    if p["scale"]:
        options.append(f"scale={p['scale']!r}")
    extra = "".join(", " + o for o in options)
    if len(ins["q"]) == 2:
        # one head: given as (B, 1, T, E), since ONNX export takes only 4D queries, keys and values
        return Emission(None, f"F.scaled_dot_product_attention({{q}}[:, None], {{k}}[:, None], {{v}}[:, None]"
                              f"{extra})[:, 0]")
    return Emission(None, f"F.scaled_dot_product_attention({{q}}, {{k}}, {{v}}{extra})")


SDPA = BlockSpec(
    "ScaledDotProductAttention", "Scaled dot-product attention", CATEGORY,
    "torch's attention function on queries, keys and values computed by other blocks: "
    "softmax(q·kᵀ · scale) · v, per head. For models written with F.scaled_dot_product_attention "
    "(nanoGPT, many vision Transformers); Self-attention is the same with its projections built in.",
    infer=_sdpa_shape, emit=_sdpa_code,
    inputs=(Port("q", "Queries (B, T, E) or per head (B, H, T, E).", ranks=(2, 3)),
            Port("k", "Keys (B, S, E) or (B, H, S, E).", ranks=(2, 3)),
            Port("v", "Values (B, S, Ev) or (B, H, S, Ev).", ranks=(2, 3))),
    params=(
        _causal(False),
        _dropout(0.0, "attention weights"),
        Float("scale", 0.0, 0.0, 1_000.0,
              "Factor on q·kᵀ before the softmax; 0 means torch's default 1/√E."),
    ),
    summary=("causal",),
)

BLOCKS = (SELF_ATTENTION, CROSS_ATTENTION, TRANSFORMER_ENCODER, TRANSFORMER_DECODER, POSITIONAL_ENCODING,
          CLASS_TOKEN, SDPA)
