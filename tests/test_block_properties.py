"""Random parameters and input shapes for every layer block, checked against real PyTorch.

For each block type with role "layer" in the registry (whoever declared it),
hypothesis draws parameters from the block's own declaration (the default, or
small ints near the minimum and the default, every choice, both bools, short
random tuples) and small input shapes of the ranks its ports accept. When
shape inference accepts the combination, the one-block network must build and
torch's output shape and parameter count must equal the inferred ones. When
inference refuses, the refusal must be a clear diagnostic naming the block,
never a crash.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from graph.blocks import default_registry
from graph.diagnostics import ERROR
from graph.params import Param, ParamError
from graph.spec import BlockSpec, Port
from graph.validate import analyse
from tests.block_harness import BATCH, one_block_network, run_block
from tests.cases import Tokens

REGISTRY = default_registry()
LAYER_TYPES = [spec.type_id for spec in REGISTRY if spec.role == "layer"]
MAX_SIZE = 9  # largest size drawn for any input axis
RANKS = (1, 2, 3)  # the input blocks the harness can build: vector, sequence, image
# 15 keeps the default run fast; DEEPWIRE_PROPERTY_EXAMPLES=500 fuzzes harder before a release
EXAMPLES = int(os.environ.get("DEEPWIRE_PROPERTY_EXAMPLES", "15"))


def _int_values(param: Param) -> list:
    """A handful of valid ints: the smallest few, some around the default, and the specials."""
    default = param.default if isinstance(param.default, int) else 0
    lowest = int(param.minimum) if param.minimum is not None else default - 3
    candidates = set(range(lowest, lowest + 7)) | set(range(default - 3, default + 4))
    return [*(v for v in sorted(candidates) if _accepts(param, v)), *param.specials]


def _accepts(param: Param, value) -> bool:
    try:
        param.check(value)
    except ParamError:
        return False
    return True


def _float_values(param: Param) -> list[float]:
    values = [param.default]
    if param.minimum is not None:
        values.append(float(param.minimum))
        if param.maximum is not None:
            values.append((param.minimum + param.maximum) / 2)
    return values


def param_strategy(param: Param) -> st.SearchStrategy:
    """Values for one parameter, drawn from its declaration.

    Half the draws keep the default, so blocks with many parameters (Conv2d) still get valid
    combinations often; the default comes first, so failures shrink towards it.
    """
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    if param.kind == "int":
        others = st.sampled_from(_int_values(param))
    elif param.kind == "float":
        others = st.sampled_from(_float_values(param))
    elif param.kind == "tuple":
        low = int(param.minimum) if param.minimum is not None else 1
        items = st.integers(low, low + 6)
        if param.allow_minus_one:
            items = st.one_of(items, st.just(-1))
        lo, hi = param.length
        others = st.lists(items, min_size=lo, max_size=min(hi, 4)).map(tuple)
    else:
        return st.just(param.default)  # free text: the default is the only value that means something
    return st.one_of(st.just(param.default), others)


def shape_strategy(port: Port) -> st.SearchStrategy:
    ranks = [r for r in (port.ranks or RANKS) if r in RANKS]
    return st.sampled_from(ranks).flatmap(
        lambda rank: st.tuples(*[st.integers(1, MAX_SIZE)] * rank))


def draw_inputs(data, spec: BlockSpec, params: dict) -> dict:
    """Input shapes per port. Later ports often copy or tweak the first, so merges get accepted too."""
    ports = spec.input_ports(params)
    if "token_ids" in spec.tags:  # its input must be integer ids, below the block's vocabulary
        length = data.draw(st.integers(1, MAX_SIZE), label="length")
        vocab = params.get("vocab_size", 2)
        return {ports[0].name: Tokens(length, vocab)}
    first = data.draw(shape_strategy(ports[0]), label=ports[0].name)
    inputs = {ports[0].name: first}
    for port in ports[1:]:
        fresh = shape_strategy(port)
        if port.ranks is None or len(first) in port.ranks:
            tweaked = st.tuples(st.integers(0, len(first) - 1), st.integers(1, MAX_SIZE)).map(
                lambda change: first[:change[0]] + (change[1],) + first[change[0] + 1:])
            fresh = st.one_of(st.just(first), tweaked, fresh)
        inputs[port.name] = data.draw(fresh, label=port.name)
    return inputs


def test_every_layer_block_is_covered():
    assert "Conv2d" in LAYER_TYPES and "Concatenate" in LAYER_TYPES
    assert all(REGISTRY.get(t).role == "layer" for t in LAYER_TYPES)


@pytest.mark.parametrize("type_id", LAYER_TYPES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_parameters_infer_the_shape_torch_computes(type_id, data):
    spec = REGISTRY.get(type_id)
    params = {p.name: data.draw(param_strategy(p), label=p.name) for p in spec.params}
    inputs = draw_inputs(data, spec, params)

    analysis = analyse(one_block_network(REGISTRY, type_id, params, inputs), REGISTRY)
    inferred = analysis.shapes["under_test"]
    event("refused by inference" if inferred is None else "accepted and run in torch")
    if inferred is None:
        errors = [d for d in analysis.diagnostics if d.severity == ERROR and d.block == "under_test"]
        assert errors, "inference gave no shape but reported no error on the block"
        assert all("'under_test'" in d.message for d in errors)
        return

    analysis, model, out, _ = run_block(REGISTRY, type_id, params, inputs)
    assert tuple(out.shape) == (BATCH, *inferred)
    declared = spec.count(analysis.inference.params["under_test"],
                          analysis.inference.inputs["under_test"], inferred)
    assert declared == sum(p.numel() for p in model.parameters())
