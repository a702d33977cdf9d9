"""torch.nn modules -> DeepWire blocks, for the torch.fx importer.

`map_module(module, in_shape)` returns the block a submodule call becomes,
or raises NoBlockError naming the setting DeepWire cannot express (a BatchNorm
with another eps, a non-square kernel, batch_first=False ...): an import
must give the same outputs as the original, so nothing is approximated.
Only exact classes are mapped: a subclass may change forward().

Recurrent layers and global pooling are only partly mapped here: what
follows them (which output is used, a flatten) decides the block, so
fx_import handles them with `recurrent_params` and `is_global_pool`.
The helper classes of DeepWire's own exported code (SelfAttention,
TransformerEncoderBlock, ...) are recognised by name and structure, so
exported code imports back to the same blocks.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn

from runtime.importing.mapped import Mapped, NoBlockError, dropout_type, single

DEFAULT_EPS = 1e-5


def _state(module: nn.Module) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _nondefault(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise NoBlockError(reason)


def _linear(m: nn.Linear, shape):
    # torch's Linear acts on the last axis of any input: (B, H, W, C) of ConvNeXt's channels-last blocks
    per_position = shape is not None and len(shape) > 2
    return Mapped("Linear", _nondefault({"features": m.out_features, "bias": m.bias is not None,
                                         "per_position": per_position},
                                        {"bias": True, "per_position": False}), _state(m))


def _conv(type_id: str):
    def rule(m, shape):
        _require(m.padding_mode == "zeros", f"padding_mode '{m.padding_mode}' (DeepWire pads with zeros)")
        padding = m.padding if isinstance(m.padding, str) else single(m.padding, "padding")
        if padding == "valid":
            padding = 0
        params = {"channels": m.out_channels, "kernel_size": single(m.kernel_size, "kernel_size"),
                  "stride": single(m.stride, "stride"), "padding": padding,
                  "dilation": single(m.dilation, "dilation"), "groups": m.groups, "bias": m.bias is not None}
        defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}
        return Mapped(type_id, _nondefault(params, defaults), _state(m))
    return rule


def _conv_transpose(m: nn.ConvTranspose2d, shape):
    _require(m.padding_mode == "zeros", f"padding_mode '{m.padding_mode}'")
    _require(m.groups == 1, f"groups {m.groups} (DeepWire's transposed conv has one group)")
    _require(single(m.dilation, "dilation") == 1, "dilation other than 1")
    params = {"channels": m.out_channels, "kernel_size": single(m.kernel_size, "kernel_size"),
              "stride": single(m.stride, "stride"), "padding": single(m.padding, "padding"),
              "output_padding": single(m.output_padding, "output_padding"), "bias": m.bias is not None}
    return Mapped("ConvTranspose2d", _nondefault(params, {"stride": 2, "padding": 0, "output_padding": 0,
                                                          "bias": True}), _state(m))


def _upsample(m: nn.Upsample, shape):
    _require(m.size is None and m.scale_factor is not None,
             "a fixed output size (DeepWire scales by a factor)")
    _require(not m.align_corners, "align_corners=True")
    scale = single(m.scale_factor, "scale_factor")
    _require(m.mode in ("nearest", "bilinear", "linear"), f"mode '{m.mode}'")
    return Mapped("Upsample", _nondefault({"scale_factor": scale, "mode": m.mode},
                                          {"scale_factor": 2, "mode": "nearest"}))


def _pool(type_id: str, kind: str):
    def rule(m, shape):
        kernel = single(m.kernel_size, "kernel_size")
        stride = single(m.stride, "stride") if m.stride is not None else kernel
        padding = single(m.padding, "padding")
        params: dict[str, Any] = {"kernel_size": kernel, "stride": 0 if stride == kernel else stride,
                                  "padding": padding}
        if kind == "max":
            _require(single(m.dilation, "dilation") == 1, "dilation other than 1")
            _require(not m.return_indices, "return_indices=True")
            params["ceil_mode"] = bool(m.ceil_mode)
        else:
            _require(not m.ceil_mode, "ceil_mode=True")
            _require(m.count_include_pad, "count_include_pad=False")
            _require(getattr(m, "divisor_override", None) is None, "divisor_override")
        return Mapped(type_id, _nondefault(params, {"kernel_size": 2, "stride": 0, "padding": 0,
                                                    "ceil_mode": False}))
    return rule


ADAPTIVE = {nn.AdaptiveAvgPool1d: "GlobalAvgPool", nn.AdaptiveAvgPool2d: "GlobalAvgPool",
            nn.AdaptiveMaxPool1d: "GlobalMaxPool", nn.AdaptiveMaxPool2d: "GlobalMaxPool"}


def is_global_pool(m: nn.Module) -> str | None:
    """"GlobalAvgPool" / "GlobalMaxPool" for an adaptive pooling to size 1, else None."""
    kind = ADAPTIVE.get(type(m))
    if kind is None:
        return None
    if getattr(m, "return_indices", False):
        return None
    size = m.output_size
    sizes = size if isinstance(size, (tuple, list)) else (size,)
    return kind if all(s == 1 for s in sizes) else None


def _eps(m: nn.Module) -> dict[str, float]:
    """{"eps": value} when the layer's eps is not torch's default 1e-5 (the blocks' default too)."""
    _require(1e-12 <= m.eps <= 1.0, f"eps {m.eps:g} (DeepWire takes 1e-12 to 1)")
    return {} if abs(m.eps - DEFAULT_EPS) < 1e-12 else {"eps": float(m.eps)}


def _batch_norm(type_id: str):
    def rule(m, shape):
        _require(m.track_running_stats, "track_running_stats=False")
        _require(m.momentum is not None, "momentum=None (a cumulative average)")
        params = {"momentum": float(m.momentum), "affine": bool(m.affine)}
        defaults = {"momentum": 0.1, "affine": True}
        return Mapped(type_id, {**_nondefault(params, defaults), **_eps(m)}, _state(m))
    return rule


def _instance_norm(type_id: str):
    def rule(m, shape):
        _require(m.momentum is not None, "momentum=None (a cumulative average)")
        params = {"momentum": float(m.momentum), "affine": bool(m.affine),
                  "track_running_stats": bool(m.track_running_stats)}
        defaults = {"momentum": 0.1, "affine": False, "track_running_stats": False}
        return Mapped(type_id, {**_nondefault(params, defaults), **_eps(m)}, _state(m))
    return rule


def _layer_norm(m: nn.LayerNorm, shape):
    _require(len(m.normalized_shape) == 1, f"normalised shape {tuple(m.normalized_shape)} "
             "(DeepWire's layer norm normalises the last axis only)")
    affine = bool(m.elementwise_affine)
    params = {"affine": affine, "bias": not affine or m.bias is not None}
    return Mapped("LayerNorm", {**_nondefault(params, {"affine": True, "bias": True}), **_eps(m)}, _state(m))


def _group_norm(m: nn.GroupNorm, shape):
    return Mapped("GroupNorm", {**_nondefault({"groups": m.num_groups, "affine": bool(m.affine)},
                                              {"affine": True}), **_eps(m)}, _state(m))


def _dropout(type_id: str):
    def rule(m, shape):
        return Mapped(dropout_type(type_id, shape), _nondefault({"p": float(m.p)}, {"p": 0.5}))
    return rule


def _embedding(m: nn.Embedding, shape):
    _require(m.padding_idx is None, "padding_idx (its padding row would be learned in DeepWire)")
    _require(m.max_norm is None, "max_norm")
    _require(not m.scale_grad_by_freq and not m.sparse, "scale_grad_by_freq or sparse gradients")
    return Mapped("Embedding", {"vocab_size": m.num_embeddings, "dim": m.embedding_dim}, _state(m))


def _activation(type_id: str, **params):
    def rule(m, shape):
        return Mapped(type_id, {name: read(m) for name, read in params.items()})
    return rule


def _hardtanh(m: nn.Hardtanh, shape):
    _require((m.min_val, m.max_val) == (0.0, 6.0),
             f"bounds ({m.min_val:g}, {m.max_val:g}); DeepWire's ReLU6 clips to (0, 6)")
    return Mapped("ReLU6")


def _gelu(m: nn.GELU, shape):
    return Mapped("GELU", _nondefault({"approximate": m.approximate}, {"approximate": "none"}))


def _softmax(type_id: str):
    def rule(m, shape):
        dim = m.dim
        _require(dim is not None, "an implicit dim (give Softmax a dim)")
        _require(dim != 0, "dim 0, the batch axis")
        return Mapped(type_id, {"dim": dim})
    return rule


def _flatten(m: nn.Flatten, shape):
    if m.start_dim == 1 and m.end_dim == -1:
        return Mapped("Flatten")
    # nn.Flatten(2) of ViT's patches: a Reshape to the sizes the traced input has
    _require(shape is not None, f"start_dim {m.start_dim}, end_dim {m.end_dim} on an input of unknown shape")
    full = (0, *shape)
    start, end = m.start_dim % len(full), m.end_dim % len(full)
    _require(start >= 1, f"start_dim {m.start_dim} (it flattens the batch axis into the samples)")
    merged = 1
    for size in full[start:end + 1]:
        merged *= size
    out = (*full[1:start], merged, *full[end + 1:])
    _require(1 <= len(out) <= 4, f"a shape of {len(out)} axes after the batch (Reshape takes 1 to 4)")
    return Mapped("Flatten") if len(out) == 1 else Mapped("Reshape", {"shape": tuple(out)})


def pad_params(sides, mode: str, value=0.0) -> dict[str, Any]:
    """Pad block parameters for torch's padding sides (left, right[, top, bottom]) and mode."""
    modes = {"constant": "zeros", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
    _require(mode in modes, f"mode '{mode}'")
    _require(mode != "constant" or not value, f"padding with the value {value} (DeepWire pads with zeros)")
    sides = tuple(int(s) for s in sides)
    _require(len(sides) in (2, 4) and min(sides) >= 0, f"padding {sides} (DeepWire pads 1 or 2 axes, "
             "never crops)")
    padding = sides[:1] if len(set(sides)) == 1 else sides
    return _nondefault({"padding": padding, "mode": modes[mode]}, {"padding": (1,), "mode": "zeros"})


def _pad(mode: str):
    def rule(m, shape):
        value = getattr(m, "value", 0.0)
        sides = m.padding
        if shape is not None and len(shape) == 3 and len(sides) == 2:
            sides = (*sides, 0, 0)  # a 1D padding module on an image pads the width only
        return Mapped("Pad", pad_params(sides, mode, value))
    return rule


def recurrent_params(m: nn.Module) -> dict[str, Any]:
    """Parameters of an RNN/LSTM/GRU block for this module, its `output` still to be chosen.

    batch_first=False is the importer's to judge: behind x.transpose(0, 1) it is the same block.
    """
    _require(m.bias, "bias=False")
    _require(getattr(m, "proj_size", 0) == 0, "proj_size (projected LSTM)")
    params: dict[str, Any] = {"hidden_size": m.hidden_size, "num_layers": m.num_layers,
                              "bidirectional": bool(m.bidirectional), "dropout": float(m.dropout)}
    if isinstance(m, nn.RNN):
        params["nonlinearity"] = m.nonlinearity
    return _nondefault(params, {"num_layers": 1, "bidirectional": False, "dropout": 0.0,
                                "nonlinearity": "tanh"})


RECURRENT = {nn.RNN: "RNN", nn.LSTM: "LSTM", nn.GRU: "GRU"}


# --- DeepWire's own helper classes (graph.helpers_src), recognised by name and structure ---

def _attention_heads(attention: nn.MultiheadAttention) -> tuple[int, float]:
    return attention.num_heads, float(attention.dropout)


def _helper_self_attention(m, shape):
    heads, dropout = _attention_heads(m.attention)
    return Mapped("SelfAttention", _nondefault({"heads": heads, "dropout": dropout, "causal": bool(m.causal)},
                                               {"dropout": 0.0, "causal": False}), _state(m))


def _helper_cross_attention(m, shape):
    heads, dropout = _attention_heads(m.attention)
    return Mapped("CrossAttention", _nondefault({"heads": heads, "dropout": dropout}, {"dropout": 0.0}),
                  _state(m))


def _activation_name(layer: nn.Module) -> str:
    """"relu" or "gelu" for a torch Transformer layer's feed-forward activation; NoBlockError otherwise."""
    activation = layer.activation
    if activation in (F.relu, F.gelu):
        return activation.__name__
    if type(activation) in (nn.ReLU, nn.GELU) and getattr(activation, "approximate", "none") == "none":
        return "relu" if isinstance(activation, nn.ReLU) else "gelu"
    raise NoBlockError(f"the feed-forward activation {activation!r} (DeepWire's blocks take gelu or relu)")


def _layer_params(layer: nn.Module, causal: bool, causal_default: bool) -> dict[str, Any]:
    params = {"heads": layer.self_attn.num_heads, "feedforward": layer.linear1.out_features,
              "dropout": float(layer.dropout.p), "causal": bool(causal), "norm_first": bool(layer.norm_first),
              "activation": _activation_name(layer)}
    return _nondefault(params, {"heads": 4, "feedforward": 256, "dropout": 0.1, "causal": causal_default,
                                "norm_first": True, "activation": "gelu"})


def _helper_encoder(m, shape):
    return Mapped("TransformerEncoderBlock", _layer_params(m.layer, m.causal, False), _state(m))


def _helper_decoder(m, shape):
    return Mapped("TransformerDecoderBlock", _layer_params(m.layer, m.causal, True), _state(m))


def _helper_positions(kind: str):
    def rule(m, shape):
        length = int(m.table.shape[0])
        return Mapped("PositionalEncoding", _nondefault({"kind": kind, "max_length": length},
                                                        {"kind": "sinusoidal", "max_length": 512}),
                      _state(m))
    return rule


# --- torch's own Transformer layers and attention, onto the same blocks ---

def encoder_layer(layer: nn.TransformerEncoderLayer) -> tuple[dict[str, Any], dict[str, Any]]:
    """(params, weights) of a TransformerEncoderBlock equal to this torch layer; NoBlockError if none is."""
    _require(layer.self_attn.batch_first, "batch_first=False (DeepWire sequences are (B, T, D))")
    _require(abs(layer.norm1.eps - DEFAULT_EPS) < 1e-12 and abs(layer.norm2.eps - DEFAULT_EPS) < 1e-12,
             f"layer_norm_eps {layer.norm1.eps:g} (DeepWire uses 1e-05)")
    _require(layer.linear1.bias is not None and layer.norm1.bias is not None, "bias=False")
    params = _layer_params(layer, False, False)
    return params, {f"layer.{k}": v for k, v in _state(layer).items()}


def attention_weights(m: nn.MultiheadAttention) -> dict[str, Any]:
    _require(m.batch_first, "batch_first=False (DeepWire sequences are (B, T, D))")
    _require(m.in_proj_bias is not None or m.q_proj_weight is not None, "bias=False")
    _require(m.bias_k is None and not m.add_zero_attn, "add_bias_kv or add_zero_attn")
    _require(m.out_proj.bias is not None, "bias=False")
    return {f"attention.{k}": v for k, v in _state(m).items()}


def _stochastic_depth(m, shape):
    """torchvision's StochasticDepth (and DeepWire's own, the same attributes) and timm's DropPath."""
    p = float(m.p if hasattr(m, "p") else m.drop_prob)
    mode = getattr(m, "mode", "row")
    _require(mode in ("row", "batch"), f"mode '{mode}'")
    return Mapped("StochasticDepth", _nondefault(
        {"p": p, "mode": mode, "scale_by_keep": bool(getattr(m, "scale_by_keep", True))},
        {"p": 0.1, "mode": "row", "scale_by_keep": True}))


# class name -> (attributes the helper must have, rule); also other libraries' classes known by name
# whose forward() an import keeps whole (stochastic depth: traced in eval mode it would vanish)
HELPER_RULES = {
    "SelfAttention": (("attention", "causal"), _helper_self_attention),
    "CrossAttention": (("attention",), _helper_cross_attention),
    "TransformerEncoderBlock": (("layer", "causal"), _helper_encoder),
    "TransformerDecoderBlock": (("layer", "causal"), _helper_decoder),
    "SinusoidalPositionalEncoding": (("table",), _helper_positions("sinusoidal")),
    "LearnedPositionalEncoding": (("table",), _helper_positions("learned")),
    "ClassToken": (("token",), lambda m, shape: Mapped("ClassToken", {}, _state(m))),
    "StochasticDepth": (("p", "mode"), _stochastic_depth),  # torchvision.ops and DeepWire's helper
    "DropPath": (("drop_prob",), _stochastic_depth),  # timm.layers
}


def is_helper(m: nn.Module) -> bool:
    entry = HELPER_RULES.get(type(m).__name__)
    return entry is not None and all(hasattr(m, attr) for attr in entry[0])


MODULE_RULES = {
    nn.Linear: _linear,
    nn.Conv1d: _conv("Conv1d"),
    nn.Conv2d: _conv("Conv2d"),
    nn.ConvTranspose2d: _conv_transpose,
    nn.Upsample: _upsample,
    nn.MaxPool1d: _pool("MaxPool1d", "max"),
    nn.MaxPool2d: _pool("MaxPool2d", "max"),
    nn.AvgPool1d: _pool("AvgPool1d", "avg"),
    nn.AvgPool2d: _pool("AvgPool2d", "avg"),
    nn.BatchNorm1d: _batch_norm("BatchNorm1d"),
    nn.BatchNorm2d: _batch_norm("BatchNorm2d"),
    nn.LayerNorm: _layer_norm,
    nn.InstanceNorm1d: _instance_norm("InstanceNorm1d"),
    nn.InstanceNorm2d: _instance_norm("InstanceNorm2d"),
    nn.GroupNorm: _group_norm,
    nn.Dropout: _dropout("Dropout"),
    nn.Dropout2d: _dropout("Dropout2d"),
    nn.Embedding: _embedding,
    nn.ReLU: _activation("ReLU"),
    nn.SiLU: _activation("SiLU"),
    nn.Sigmoid: _activation("Sigmoid"),
    nn.Tanh: _activation("Tanh"),
    nn.ReLU6: _activation("ReLU6"),
    nn.Hardtanh: _hardtanh,
    nn.Hardswish: _activation("Hardswish"),
    nn.Hardsigmoid: _activation("Hardsigmoid"),
    nn.Mish: _activation("Mish"),
    nn.LeakyReLU: _activation("LeakyReLU", negative_slope=lambda m: float(m.negative_slope)),
    nn.ELU: _activation("ELU", alpha=lambda m: float(m.alpha)),
    nn.GELU: _gelu,
    nn.Softmax: _softmax("Softmax"),
    nn.LogSoftmax: _softmax("LogSoftmax"),
    nn.Flatten: _flatten,
    nn.PixelShuffle: lambda m, shape: Mapped("PixelShuffle", _nondefault({"upscale_factor": m.upscale_factor},
                                                                        {"upscale_factor": 2})),
    nn.ZeroPad1d: _pad("constant"), nn.ZeroPad2d: _pad("constant"),
    nn.ConstantPad1d: _pad("constant"), nn.ConstantPad2d: _pad("constant"),
    nn.ReflectionPad1d: _pad("reflect"), nn.ReflectionPad2d: _pad("reflect"),
    nn.ReplicationPad1d: _pad("replicate"), nn.ReplicationPad2d: _pad("replicate"),
    nn.CircularPad1d: _pad("circular"), nn.CircularPad2d: _pad("circular"),
}

# modules that return their input unchanged
IDENTITY_MODULES = (nn.Identity,)


def map_module(m: nn.Module, in_shape) -> Mapped:
    """The block for one call of submodule m; NoBlockError when DeepWire has none."""
    if is_helper(m):
        return HELPER_RULES[type(m).__name__][1](m, in_shape)
    rule = MODULE_RULES.get(type(m))
    if rule is None:
        raise NoBlockError("")
    return rule(m, in_shape)


def module_label(m: nn.Module) -> str:
    """How messages name a module class: "nn.ReLU6", or "mypkg.blocks.SqueezeExcite"."""
    cls = type(m)
    if cls.__module__.startswith("torch.nn"):
        return f"nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ not in ("__main__",) else cls.__qualname__
