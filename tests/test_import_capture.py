"""The torch.export fallback and the functional-weight rules of the importer (no extra packages needed).

Models from tests/corpus/own_models.py plus a few written here: Python torch.fx
cannot trace is captured by torch.export and imports fully; a branch on tensor
values is refused naming its line; F calls on module weights, a per-channel
factor (layer scale), a learned table of positions, torch.cat of one tensor and
an adaptive pooling that enlarges become ordinary blocks with equal outputs.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn

from runtime.importing.fx_import import InputSpec, ModelImportError, import_module
from runtime.importing.importer import run_import
from tests.corpus import own_models

OWN = own_models.__file__


def _types(report) -> Counter:
    return report.networks[0].blocks


UNTRACEABLE = [("IsCuda", "12"), ("LenOfBatch", "1,8,8"), ("SizeBranch", "3,32,32")]


@pytest.mark.parametrize("name, shape", UNTRACEABLE)
def test_code_fx_cannot_trace_is_captured_by_torch_export_and_imports_fully(tmp_path, registry, name, shape):
    report = run_import(f"{OWN}:{name}", tmp_path / "m.dw.json", registry, [shape], "classification")

    net = report.networks[0]
    assert report.ok and not net.problems and net.max_abs_diff < 1e-6
    assert "Unsupported" not in net.blocks and net.blocks["Linear"] == 1


def test_the_size_branch_taken_on_the_example_is_the_one_imported(tmp_path, registry):
    report = run_import(f"{OWN}:SizeBranch", tmp_path / "m.dw.json", registry, ["3,32,32"], "classification")
    assert _types(report)["MaxPool2d"] == 1  # 32 > 16: the pooling branch

    report = run_import(f"{OWN}:SizeBranch", tmp_path / "s.dw.json", registry, ["3,8,8"], "classification")
    assert _types(report)["MaxPool2d"] == 0


def test_a_branch_on_tensor_values_is_refused_naming_the_line(registry):
    model = own_models.DataDependent()
    with pytest.raises(ModelImportError) as refused:
        import_module(model, [InputSpec("x", (12,))], None, registry)
    message = str(refused.value)
    assert "torch.fx cannot trace DataDependent.forward" in message
    assert "torch.export cannot capture it either" in message
    assert "own_models.py line" in message and "if x.sum() > 0:" in message
    assert "Traceback" not in message


def test_module_weights_used_in_functions_become_their_layers(tmp_path, registry):
    report = run_import(f"{OWN}:FunctionalWeights", tmp_path / "m.dw.json", registry,
                        ["x=12", "image=3,8,8"], "classification")

    net = report.networks[0]
    assert report.ok and net.max_abs_diff < 1e-6
    assert net.blocks["LayerNorm"] == 1 and net.blocks["Linear"] == 2 and net.blocks["Conv2d"] == 1
    assert "Unsupported" not in net.blocks


class _Stored(nn.Module):
    """Layer scale (x * gamma, gamma reshaped in forward), learned positions, cat of one, a VGG-style
    adaptive pooling of a 1x1 map to 3x3, a batch norm written with F.batch_norm on its own buffers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.gamma = nn.Parameter(torch.rand(4) + 0.5)
        self.bn = nn.BatchNorm2d(4, eps=1e-3)
        self.fc = nn.Linear(36, 8)
        self.positions = nn.Parameter(torch.randn(1, 6, 8))
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        x = self.conv(x) * self.gamma.reshape(1, -1, 1, 1)
        x = F.batch_norm(x, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias,
                         False, 0.1, self.bn.eps)
        x = torch.cat([F.adaptive_avg_pool2d(x, 3)], dim=1)
        seq = self.fc(torch.flatten(x, 1)).unsqueeze(1).expand(-1, 6, -1) + 0.0
        return self.out((seq + self.positions).mean(1))


def test_stored_operands_and_enlarging_pools_import_as_blocks(registry, tmp_path):
    model = _Stored().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    network, gm = import_module(model, [InputSpec("x", (3, 4, 4))], None, registry)
    types = Counter(b.type for b in network.network.blocks.values())

    assert types["Upsample"] == 1  # adaptive_avg_pool2d of a 1x1 map to 3x3
    assert types["BatchNorm2d"] == 1 and types["Concatenate"] == 0
    scale = [b for b in network.network.blocks.values() if b.type == "LayerScale"]
    assert len(scale) == 1 and scale[0].params == {"axis": "channels"}  # gamma reshaped in forward()
    assert torch.equal(network.weights[scale[0].id]["gamma"].flatten(), model.gamma.detach())
    positions = [b for b in network.network.blocks.values() if b.type == "PositionalEncoding"]
    assert len(positions) == 1 and positions[0].params == {"kind": "learned", "max_length": 6}
    assert not any(p.operation.startswith("parameter") for p in network.problems)
