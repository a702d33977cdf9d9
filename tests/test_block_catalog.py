"""Every block type against real PyTorch: the one parametrised catalog test.

For each case: the inferred output shape equals torch's real output shape
(for two batch sizes), the declared parameter count equals torch's, gradients
flow, and the generated code compiles. Bad cases must be refused by shape
inference with a message naming the problem.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import torch

import tests.cases as cases_pkg
from graph.blocks import default_registry
from graph.diagnostics import ERROR
from graph.validate import analyse
from tests.block_harness import one_block_network, run_block, sample_input

ALL_CASES = [
    c
    for info in pkgutil.iter_modules(cases_pkg.__path__)
    for c in importlib.import_module(f"tests.cases.{info.name}").CASES
]
GOOD = [c for c in ALL_CASES if c.error is None]
BAD = [c for c in ALL_CASES if c.error is not None]


def test_every_block_type_has_cases():
    registry = default_registry()
    covered = {c.type_id for c in GOOD}
    # a placeholder block (an import's Unsupported) is never valid: refusal cases cover it
    covered |= {c.type_id for c in BAD if "placeholder" in registry.get(c.type_id).tags}
    missing = sorted(spec.type_id for spec in registry if spec.type_id not in covered)
    assert missing == []


@pytest.mark.parametrize("c", GOOD, ids=[c.id for c in GOOD])
def test_inferred_shape_matches_torch(registry, c):
    analysis, model, out, compiled = run_block(registry, c.type_id, c.params, c.inputs)
    assert analysis.ok, [d.message for d in analysis.diagnostics]
    spec = registry.get(c.type_id)
    inferred = analysis.shapes["under_test"]
    assert tuple(out.shape) == (3, *inferred)

    # the batch dimension really is free
    info = compiled.network()
    inputs = {f"in_{p}": s for p, s in c.inputs.items()}
    if spec.role != "input":
        args = [sample_input(inputs[b], batch=5) for b in info.input_blocks]
        assert tuple(model(*args).shape) == (5, *inferred)

    torch_count = sum(p.numel() for p in model.parameters())
    if spec.role != "input":
        declared = spec.count(analysis.inference.params["under_test"],
                              analysis.inference.inputs["under_test"], inferred)
        assert declared == torch_count

    if out.is_floating_point() and torch_count:
        model.train()
        out = model(*[sample_input(inputs[b]) for b in info.input_blocks])
        out.float().pow(2).mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("c", BAD, ids=[c.id for c in BAD])
def test_bad_inputs_are_refused_with_a_clear_message(registry, c):
    net = one_block_network(registry, c.type_id, c.params, c.inputs)
    analysis = analyse(net, registry)
    errors = [d for d in analysis.diagnostics if d.severity == ERROR and d.block == "under_test"]
    assert errors, "expected shape inference to refuse this combination"
    # a block may have more than one thing wrong (e.g. an Embedding fed float values of the wrong rank)
    matching = [d.message for d in errors if c.error in d.message]
    assert matching, [d.message for d in errors]
    assert "'under_test'" in matching[0]  # names the block
