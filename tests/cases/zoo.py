"""Cases for the blocks public model zoos need (issue 14): ReLU6, Hardswish, Hardsigmoid, Mish, ..."""

from tests.cases import bad, case

IMG = (3, 5, 4)
SEQ = (4, 6)

ACTIVATIONS = [
    case(type_id, {}, x=shape)
    for type_id in ("ReLU6", "Hardswish", "Hardsigmoid", "Mish")
    for shape in ((7,), SEQ, IMG)
]

BROADCAST = [
    case("Multiply", {}, in1=(4, 1, 1), in2=(4, 5, 3)),  # squeeze-excitation
    case("Multiply", {}, in1=(4, 5, 3), in2=(1, 5, 3)),
    case("Add", {"inputs": 3}, in1=(1, 6), in2=(5, 1), in3=(5, 6)),
    case("Add", {}, in1=(1,), in2=(7,)),
    bad("Multiply", {}, error="or of size 1 on the axes where they differ", in1=(4, 2, 2), in2=(3, 2, 2)),
    bad("Add", {}, error="same shape", in1=(4,), in2=(4, 1)),
]

REGULARISE = [
    case("StochasticDepth", {}, x=IMG),
    case("StochasticDepth", {"p": 0.5, "mode": "batch", "scale_by_keep": False}, x=SEQ),
    case("StochasticDepth", {"p": 1.0}, x=(5,)),
    case("Identity", {}, x=IMG),
    case("Identity", {}, x=(3,)),
]

CASES = ACTIVATIONS + BROADCAST + REGULARISE
