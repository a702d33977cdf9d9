"""The blocks public model zoos need (issue 14), against real torch: values, and the imports onto them.

Each block's compiled code must compute what torch's own module computes
(a one-block network run on a random batch, compared with the nn module
with the same weights), and the torch spellings of the operation (module,
function, method) must import onto that block with equal outputs. The
models below are imported as `tests.test_zoo_blocks:NAME`.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn

from graph.compiler import compile_network
from runtime.build import load_source
from runtime.importing.importer import run_import
from tests.block_harness import one_block_network

SPEC = "tests.test_zoo_blocks"


def _block_model(registry, type_id: str, params: dict, **inputs):
    """The compiled one-block network (eval mode) and its inputs' port order."""
    net = one_block_network(registry, type_id, params, inputs)
    compiled = compile_network(net, registry, "Zoo")
    model = getattr(load_source(compiled.source), compiled.network().class_name)().eval()
    return model, compiled.network().input_blocks


def _imported(tmp_path, registry, name: str, shape: str) -> Counter:
    """Import one of the models below; it must import fully and give the original's outputs."""
    report = run_import(f"{SPEC}:{name}", tmp_path / f"{name}.dw.json", registry, [shape])
    net = report.networks[0]
    assert not net.problems and not net.errors, ([p.detail for p in net.problems], net.errors)
    assert net.max_abs_diff is not None and net.max_abs_diff <= 1e-5 and net.matches, net.max_abs_diff
    return net.blocks


# --- activations ----------------------------------------------------------------------------

@pytest.mark.parametrize("type_id, reference", [
    ("ReLU6", nn.ReLU6()), ("Hardswish", nn.Hardswish()), ("Hardsigmoid", nn.Hardsigmoid()),
    ("Mish", nn.Mish()),
])
def test_the_new_activations_compute_what_torch_does(registry, type_id, reference):
    model, _ = _block_model(registry, type_id, {}, x=(3, 4, 5))
    x = torch.randn(2, 3, 4, 5) * 5  # past the kinks at -3, 0, 3 and 6
    assert torch.equal(model(x), reference(x))


class MobileActivations(nn.Module):
    """Every torch spelling of the MobileNet activations."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.layers = nn.Sequential(nn.ReLU6(), nn.Hardswish(), nn.Hardsigmoid(), nn.Mish(),
                                    nn.Hardtanh(0.0, 6.0))

    def forward(self, x):
        x = self.layers(self.fc(x))
        x = F.relu6(x) + F.hardswish(x) + F.hardsigmoid(x) + F.mish(x) + F.hardtanh(x, 0.0, 6.0)
        return x.clamp(0, 6) + torch.clamp(x, min=0)


def test_every_spelling_of_the_mobile_activations_imports_onto_their_blocks(tmp_path, registry):
    types = _imported(tmp_path, registry, "MobileActivations", "6")
    assert types["ReLU6"] == 5 and types["Hardswish"] == 2 and types["Hardsigmoid"] == 2
    assert types["Mish"] == 2 and types["ReLU"] == 1 and "Unsupported" not in types


# --- broadcasting merges --------------------------------------------------------------------

class SqueezeExcite(nn.Module):
    """torchvision's SqueezeExcitation: per-channel weights (B, C, 1, 1) scale the image (B, C, H, W)."""

    def __init__(self, channels=8, squeezed=2):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        scale = torch.sigmoid(self.fc2(F.relu(self.fc1(self.avgpool(x)))))
        return scale * x + x.mean((2, 3), keepdim=True)


def test_a_squeeze_excitation_imports_onto_broadcasting_multiply_and_add(tmp_path, registry):
    types = _imported(tmp_path, registry, "SqueezeExcite", "8,5,6")
    assert types["Multiply"] == 1 and types["Add"] == 1 and "Unsupported" not in types


# --- stochastic depth and identity ----------------------------------------------------------

def test_stochastic_depth_passes_values_at_evaluation_and_drops_whole_samples_in_training(registry):
    model, _ = _block_model(registry, "StochasticDepth", {"p": 0.5}, x=(2, 3, 3))
    x = torch.randn(64, 2, 3, 3)
    assert torch.equal(model(x), x)
    model.train()
    torch.manual_seed(0)
    y = model(x)
    kept = (y != 0).flatten(1).all(1)
    dropped = (y == 0).flatten(1).all(1)
    assert bool((kept | dropped).all()) and 10 < int(kept.sum()) < 54  # whole samples, about half
    assert torch.allclose(y[kept], x[kept] * 2)  # scaled by 1 / (1 - p)
    batch, _ = _block_model(registry, "StochasticDepth", {"p": 0.5, "mode": "batch"}, x=(2, 3, 3))
    batch.train()
    outs = [batch(x) for _ in range(8)]
    assert all(bool((o == 0).all()) or torch.equal(o, x * 2) for o in outs)


def test_identity_passes_its_input_unchanged(registry):
    model, _ = _block_model(registry, "Identity", {}, x=(4,))
    x = torch.randn(3, 4)
    assert torch.equal(model(x), x)


class StochasticDepthBlock(nn.Module):
    """torchvision's StochasticDepth and a timm-style DropPath on residual branches."""

    def __init__(self):
        super().__init__()
        from tests.zoo_layers import DropPath, StochasticDepth

        self.fc1, self.fc2 = nn.Linear(6, 6), nn.Linear(6, 6)
        self.drop1, self.drop2 = StochasticDepth(0.2, "row"), DropPath(0.3)

    def forward(self, x):
        x = x + self.drop1(self.fc1(x))
        return x + self.drop2(self.fc2(x))


def test_stochastic_depth_modules_import_as_blocks_not_as_nothing(tmp_path, registry):
    types = _imported(tmp_path, registry, "StochasticDepthBlock", "6")
    assert types["StochasticDepth"] == 2 and types["Add"] == 2 and "Unsupported" not in types


# --- normalisation settings -----------------------------------------------------------------

class NormZoo(nn.Module):
    """eps and momentum as EfficientNet (1e-3), ConvNeXt and ViT (1e-6) set them; instance norms."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6, eps=1e-3, momentum=0.01)
        self.inorm = nn.InstanceNorm2d(6, affine=True, eps=1e-3)
        self.inorm_plain = nn.InstanceNorm2d(6)
        self.gn = nn.GroupNorm(3, 6, eps=1e-6)
        self.flat = nn.Flatten(2)
        self.inorm1d = nn.InstanceNorm1d(6, track_running_stats=True)
        self.ln = nn.LayerNorm(20, eps=1e-6)
        self.ln_scale = nn.LayerNorm(20, bias=False)
        self.bn1d = nn.BatchNorm1d(6, eps=1e-4)

    def forward(self, x):
        x = self.gn(self.inorm_plain(self.inorm(self.bn(self.conv(x)))))
        x = self.inorm1d(self.flat(x))
        return self.bn1d(self.ln_scale(self.ln(x)))


def _randomise_statistics(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "running_mean", None) is not None:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
            if getattr(m, "weight", None) is not None and not isinstance(m, nn.Conv2d):
                m.weight.uniform_(0.5, 1.5)


def test_norm_eps_momentum_and_instance_norms_import_exactly(tmp_path, registry):
    original = NormZoo()
    _randomise_statistics(original)
    weights = tmp_path / "norm.pt"
    torch.save(original.state_dict(), weights)
    report = run_import(f"{SPEC}:NormZoo", tmp_path / "norm.dw.json", registry, ["3,4,5"], None, str(weights))
    net = report.networks[0]
    assert not net.problems and not net.errors and net.matches, ([p.detail for p in net.problems], net.errors)
    assert net.max_abs_diff <= 1e-5
    from graph.project_io import load_project

    blocks = {b.name: b for b in load_project(report.project_path, registry).networks[0].blocks.values()}
    assert blocks["bn"].params["eps"] == 1e-3 and blocks["bn"].params["momentum"] == 0.01
    assert blocks["inorm"].type == "InstanceNorm2d" and blocks["inorm"].params["affine"] is True
    assert blocks["inorm1d"].params["track_running_stats"] is True
    assert blocks["ln_scale"].params["bias"] is False and blocks["gn"].params["eps"] == 1e-6


# --- pixel shuffle and padding --------------------------------------------------------------

@pytest.mark.parametrize("params, reference", [
    ({"padding": (1, 2, 0, 3), "mode": "reflect"}, nn.ReflectionPad2d((1, 2, 0, 3))),
    ({"padding": (2,)}, nn.ZeroPad2d(2)),
    ({"padding": (1, 3, 2, 0), "mode": "replicate"}, nn.ReplicationPad2d((1, 3, 2, 0))),
    ({"padding": (2,), "mode": "circular"}, nn.CircularPad2d(2)),
])
def test_pad_computes_what_torch_padding_modules_do(registry, params, reference):
    model, _ = _block_model(registry, "Pad", params, x=(2, 4, 5))
    x = torch.randn(3, 2, 4, 5)
    assert torch.equal(model(x), reference(x))


def test_pixel_shuffle_computes_what_torch_does(registry):
    model, _ = _block_model(registry, "PixelShuffle", {"upscale_factor": 3}, x=(18, 2, 3))
    x = torch.randn(2, 18, 2, 3)
    assert torch.equal(model(x), nn.PixelShuffle(3)(x))


class SuperResolution(nn.Module):
    """pytorch/examples' super-resolution shape: reflection and zero padding, a conv, a pixel shuffle."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(2, 8, 3)
        self.shuffle = nn.PixelShuffle(2)
        self.zero = nn.ZeroPad2d((1, 0, 2, 1))
        self.wave = nn.Conv1d(2, 2, 3)
        self.pad1d = nn.ReplicationPad1d((2, 1))

    def forward(self, x):
        x = self.zero(self.shuffle(self.conv(self.pad(x))))
        x = F.pad(x, (1, 1, 0, 0), mode="reflect") + F.pad(x, (1, 1))
        line = self.pad1d(self.wave(x.flatten(2)))
        return F.pixel_shuffle(F.pad(x, (0, 1, 1, 0), mode="replicate"), 1), line


def test_padding_modules_functions_and_pixel_shuffle_import_exactly(tmp_path, registry):
    types = _imported(tmp_path, registry, "SuperResolution", "2,4,5")
    assert types["Pad"] == 6 and types["PixelShuffle"] == 2 and "Unsupported" not in types


# --- pieces of tensors: chunk, split, unbind, indexing, squeeze -----------------------------

@pytest.mark.parametrize("type_id, params, reference", [
    ("Slice", {"axis": 2, "start": 1, "end": -1, "step": 2}, lambda x: x[:, :, 1:-1:2]),
    ("Slice", {"axis": -1, "start": -3}, lambda x: x[..., -3:]),
    ("Select", {"axis": 1, "index": -1}, lambda x: x[:, -1]),
    ("Select", {"axis": -1, "index": 2}, lambda x: x[..., 2]),
])
def test_slice_and_select_index_as_python_does(registry, type_id, params, reference):
    model, _ = _block_model(registry, type_id, params, x=(3, 6, 5))
    x = torch.randn(2, 3, 6, 5)
    assert torch.equal(model(x), reference(x))


class Pieces(nn.Module):
    """The ways real models cut tensors: GLU-style chunk, qkv split, unbind, cls token, squeeze."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(4, 12)

    def forward(self, x):  # x: (B, 5, 4)
        a, b = self.qkv(x).chunk(2, dim=-1)
        q, k, v = torch.split(self.qkv(x), 4, dim=2)
        first = x.unbind(1)[0]
        gated = a * torch.sigmoid(b)  # (B, 5, 6)
        cls = gated[:, 0] + gated[:, -1, :] + torch.cat([x.select(1, 2)[:, 1:3]] * 3, 1) + first[..., :1]
        column = q[:, 1:4, None].squeeze(2) + k.narrow(1, 1, 3) + v[:, 1:-1]
        return cls, column.unsqueeze(1).flatten(1)


def test_chunk_split_unbind_indexing_and_squeeze_import_as_slices_selects_and_reshapes(tmp_path, registry):
    types = _imported(tmp_path, registry, "Pieces", "5,4")
    # chunk 2 + split 3 + [:, 1:3] + [..., :1] + [:, 1:4, None] + narrow + [:, 1:-1]; [:, 0], [:, -1, :],
    # select, unbind[0]; the None index, squeeze and unsqueeze are Reshapes
    assert types["Slice"] == 10 and types["Select"] == 4 and types["Reshape"] == 3
    assert "Unsupported" not in types


# --- Transformer feed-forward activation, LSTM time steps -----------------------------------

class TorchTransformer(nn.Module):
    """torch's own encoder layers with their default ReLU feed-forward, and a post-norm GELU one."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.last = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                               norm_first=True)

    def forward(self, x):
        return self.last(self.encoder(x))[:, 0]


def test_torch_transformer_layers_with_relu_import_with_their_activation(tmp_path, registry):
    from graph.project_io import load_project

    _imported(tmp_path, registry, "TorchTransformer", "5,8")
    blocks = load_project(tmp_path / "TorchTransformer.dw.json", registry).networks[0].blocks.values()
    encoders = [b for b in blocks if b.type == "TransformerEncoderBlock"]
    assert [b.params.get("activation", "gelu") for b in encoders] == ["relu", "relu", "gelu"]
    assert sum(b.type == "Select" for b in blocks) == 1  # the class token x[:, 0]


def test_a_transformer_block_saved_before_the_activation_parameter_still_builds_gelu(registry):
    """Project files written before `activation` existed have no such key: they load as GELU, as before."""
    saved = {"heads": 2, "feedforward": 12}
    model, _ = _block_model(registry, "TransformerEncoderBlock", saved, x=(5, 8))
    assert model.under_test.layer.activation is F.gelu
    net = one_block_network(registry, "TransformerEncoderBlock", saved, {"x": (5, 8)})
    source = compile_network(net, registry, "Old").source
    assert "TransformerEncoderBlock(8, 2, 12)" in source and "activation=" not in source.split("class Old")[1]


class BiLstmLastStep(nn.Module):
    """out[:, -1] of a bidirectional LSTM: not its final hidden states, so a Select of the sequence."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def test_the_last_step_of_a_bidirectional_lstm_imports_as_a_select_of_its_sequence(tmp_path, registry):
    types = _imported(tmp_path, registry, "BiLstmLastStep", "6,3")
    assert types["LSTM"] == 1 and types["Select"] == 1 and "Unsupported" not in types


# --- scaled dot-product attention -----------------------------------------------------------

def test_scaled_dot_product_attention_computes_torchs_function(registry):
    params = {"causal": True, "scale": 0.3}
    model, order = _block_model(registry, "ScaledDotProductAttention", params, q=(2, 5, 4), k=(2, 5, 4),
                                v=(2, 5, 3))
    q, k, v = torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 3)
    by_port = {"in_q": q, "in_k": k, "in_v": v}
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)
    assert torch.allclose(model(*[by_port[b] for b in order]), want, atol=1e-6)


class NanoAttention(nn.Module):
    """nanoGPT's causal self-attention: one projection split into q, k, v, heads, F.sdpa, merge heads."""

    def __init__(self, dim=8, heads=2):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        self.dropout = 0.1

    def forward(self, x):
        B, T, C = x.size()  # noqa: N806 - nanoGPT's spelling
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None,
                                           dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


def test_nanogpt_attention_imports_onto_the_sdpa_block(tmp_path, registry):
    types = _imported(tmp_path, registry, "NanoAttention", "6,8")
    assert types["ScaledDotProductAttention"] == 1 and types["Slice"] == 3 and "Unsupported" not in types


# --- every new block through ONNX -----------------------------------------------------------

def _zoo_network():
    from graph.model import Block, Edge, Network

    net = Network("zoo")
    chain = [
        ("x", "ImageInput", {"channels": 8, "height": 6, "width": 6}),
        ("pad", "Pad", {"padding": (1,), "mode": "reflect"}),
        ("inorm", "InstanceNorm2d", {"affine": True, "eps": 1e-3}),
        ("hswish", "Hardswish", {}),
        ("shuffle", "PixelShuffle", {}),
        ("bn", "BatchNorm2d", {"eps": 1e-3}),
        ("mish", "Mish", {}),
        ("gate", "Multiply", {}),
        ("drop", "StochasticDepth", {"p": 0.2}),
        ("same", "Identity", {}),
        ("row", "Select", {"axis": 1, "index": 0}),
        ("ln", "LayerNorm", {"bias": False, "eps": 1e-6}),
        ("relu6", "ReLU6", {}),
        ("attend", "ScaledDotProductAttention", {"causal": True}),
        ("out", "Output", {}),
    ]
    for name, type_id, params in chain:
        net.add_block(Block(name, type_id, name, params))
    net.add_block(Block("first", "Slice", "first", {"axis": 1, "end": 1}))
    net.add_block(Block("hsig", "Hardsigmoid", "hsig", {}))
    wires = [("x", "pad", "x"), ("pad", "inorm", "x"), ("inorm", "hswish", "x"), ("hswish", "shuffle", "x"),
             ("shuffle", "bn", "x"), ("bn", "mish", "x"), ("mish", "gate", "in1"), ("mish", "first", "x"),
             ("first", "hsig", "x"), ("hsig", "gate", "in2"), ("gate", "drop", "x"), ("drop", "same", "x"),
             ("same", "row", "x"), ("row", "ln", "x"), ("ln", "relu6", "x"), ("relu6", "attend", "q"),
             ("relu6", "attend", "k"), ("ln", "attend", "v"), ("attend", "out", "x")]
    for src, dst, port in wires:
        net.connect(Edge(src, dst, port))
    return net


@pytest.mark.slow
def test_the_new_blocks_export_to_onnx_with_the_same_outputs(registry, tmp_path):
    import numpy as np
    import onnxruntime

    from graph.validate import analyse
    from runtime.export import export_onnx

    net = _zoo_network()
    analysis = analyse(net, registry)
    assert analysis.ok, [d.message for d in analysis.diagnostics]
    assert analysis.shapes["attend"] == (16, 16)
    compiled = compile_network(net, registry, "Zoo")
    info = compiled.network()
    model = getattr(load_source(compiled.source), info.class_name)().eval()
    path = export_onnx(model, info, tmp_path / "zoo.onnx", (torch.randn(2, 8, 6, 6),))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 8, 6, 6)
    with torch.no_grad():
        want = model(x)
    got = torch.from_numpy(np.asarray(session.run(None, {info.input_names[0]: x.numpy()})[0]))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


# --- layer scale: x * a learned parameter ---------------------------------------------------

class TimmLayerScale(nn.Module):
    """timm's LayerScale interface: gamma of one value per feature, x * gamma."""

    def __init__(self, dim, init_values=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class LayerScaled(nn.Module):
    """A vision-Transformer branch (timm's spelling) and a ConvNeXt block's (torchvision's (C, 1, 1))."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.layer_scale = nn.Parameter(torch.rand(4, 1, 1))
        self.fc = nn.Linear(6, 6)
        self.ls1 = TimmLayerScale(6, 0.5)
        with torch.no_grad():
            self.ls1.gamma.uniform_(0.5, 1.5)

    def forward(self, x):  # x: (B, 4, 5, 6)
        x = (x + self.layer_scale * self.conv(x)).flatten(1, 2)  # (B, 20, 6)
        return x + self.ls1(self.fc(x))


def test_layer_scale_parameters_import_as_layer_scale_blocks_with_their_values(tmp_path, registry):
    from graph.project_io import load_project

    types = _imported(tmp_path, registry, "LayerScaled", "4,5,6")
    assert types["LayerScale"] == 2 and "Unsupported" not in types
    project = load_project(tmp_path / "LayerScaled.dw.json", registry)
    # timm's LayerScale module class becomes a definition: its LayerScale block lives in the body
    blocks = [*project.networks[0].blocks.values(),
              *(b for d in project.definitions for b in d.body.blocks.values())]
    axes = sorted(b.params.get("axis", "last") for b in blocks if b.type == "LayerScale")
    assert axes == ["channels", "last"]


class StoredTensor(nn.Module):
    """A buffer used directly: still an Unsupported block, named as before."""

    def __init__(self):
        super().__init__()
        self.register_buffer("offset", torch.ones(6))
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return self.fc(x) - self.offset


def test_a_stored_tensor_without_a_block_is_still_named_as_a_problem(tmp_path, registry):
    report = run_import(f"{SPEC}:StoredTensor", tmp_path / "s.dw.json", registry, ["6"])
    details = [p.detail for p in report.networks[0].problems]
    assert any("a tensor stored in the model and used directly in forward()" in d for d in details), details
