"""Cases for the blocks public model zoos need (issue 14): ReLU6, Hardswish, Hardsigmoid, Mish, ..."""

from tests.cases import case

IMG = (3, 5, 4)
SEQ = (4, 6)

ACTIVATIONS = [
    case(type_id, {}, x=shape)
    for type_id in ("ReLU6", "Hardswish", "Hardsigmoid", "Mish")
    for shape in ((7,), SEQ, IMG)
]

CASES = ACTIVATIONS
