"""Cases for the Unsupported block an import leaves where an operation has no DeepWire block.

It is never valid, so it has refusal cases only: each must name the operation and say what to do.
"""

from tests.cases import bad

CASES = [
    bad("Unsupported", {"operation": "torch.fft.fft", "shape": (8, 5)},
        error="stands for 'torch.fft.fft' of the imported model, which has no DeepWire block", in1=(8, 5)),
    bad("Unsupported", {"operation": "nn.BatchNorm2d", "detail": "eps 0.001", "shape": (4,)},
        error="which DeepWire cannot express exactly: eps 0.001; in the original model it produced (B, 4): "
              "replace this block", in1=(4,)),
    bad("Unsupported", {"operation": "operator.sub", "inputs": 2},
        error="'operator.sub'", in1=(3, 4, 4), in2=(3, 4, 4)),
]
