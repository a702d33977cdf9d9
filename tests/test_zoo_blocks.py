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
