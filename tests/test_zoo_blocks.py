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
