"""Output heads: what a network returns, and the loss it learns with.

A head adds no computation: the model returns the value wired into it, and
`make_loss()` in the generated code returns the head's loss.
"""

from __future__ import annotations

from graph.params import Choice, Float, Int
from graph.pycode import call
from graph.shapes import expect_rank
from graph.spec import BlockSpec, Emission, ShapeError

CATEGORY = "Outputs"


def _no_code(p, ins, out):
    return Emission(None, "")


def _classification_shape(p, ins):
    x = ins["x"]
    expect_rank(x, (1, 2), "x", "class scores (B, classes) or per-step scores (B, T, classes)",
                fix="Flatten" if len(x) > 2 else None)
    if x[-1] != p["classes"]:
        raise ShapeError(
            f"expects {p['classes']} class scores but receives {x[-1]}: "
            f"set the previous layer's output size to {p['classes']}, or this head's classes to {x[-1]}",
            port="x", param="classes")
    return x


def _binary_shape(p, ins):
    x = ins["x"]
    expect_rank(x, (1, 2), "x", "one score per sample (B, 1) or per step (B, T, 1)",
                fix="Flatten" if len(x) > 2 else None)
    if x[-1] != 1:
        raise ShapeError(f"expects a single score (last size 1) but receives {x[-1]}: "
                         "make the previous Linear output 1 feature", port="x")
    return x


def _segmentation_shape(p, ins):
    x = ins["x"]
    expect_rank(x, 3, "x", "per-pixel class scores (B, classes, H, W)")
    if x[0] != p["classes"]:
        raise ShapeError(
            f"expects {p['classes']} class scores per pixel (channels) but receives {x[0]}: "
            f"set the previous convolution's channels to {p['classes']}, or this head's classes to {x[0]}",
            port="x", param="classes")
    return x


def _regression_shape(p, ins):
    return ins["x"]


CLASSIFICATION_HEAD = BlockSpec(
    "ClassificationHead", "Classification head", CATEGORY,
    "Learns to pick one of N classes from raw scores (logits) with cross-entropy loss.",
    infer=_classification_shape, emit=_no_code, role="head",
    params=(
        Int("classes", 10, 2, 10_000_000, "Number of classes; the input's last size must match."),
        Float("label_smoothing", 0.0, 0.0, 0.99,
              "Spread this share of the target over all classes; curbs over-confidence."),
    ),
    loss=lambda p: call("nn.CrossEntropyLoss", **({"label_smoothing": p["label_smoothing"]}
                                                  if p["label_smoothing"] else {})),
    summary=("classes",),
)

SEGMENTATION_HEAD = BlockSpec(
    "SegmentationHead", "Segmentation head", CATEGORY,
    "Learns a class for every pixel from per-pixel scores (B, classes, H, W) with cross-entropy; "
    "the mask to learn is (B, H, W), one class id per pixel (background 0).",
    infer=_segmentation_shape, emit=_no_code, role="head",
    params=(
        Int("classes", 2, 2, 100_000, "Number of classes, background included; the input's channels "
            "must match."),
    ),
    loss=lambda p: "nn.CrossEntropyLoss()",
    summary=("classes",),
)

BINARY_HEAD = BlockSpec(
    "BinaryHead", "Binary head", CATEGORY,
    "Learns a yes/no answer from one raw score per sample (BCE with logits).",
    infer=_binary_shape, emit=_no_code, role="head",
    loss=lambda p: "nn.BCEWithLogitsLoss()",
)

REGRESSION_HEAD = BlockSpec(
    "RegressionHead", "Regression head", CATEGORY,
    "Learns to predict numbers: mean squared error, mean absolute error (L1) or Huber.",
    infer=_regression_shape, emit=_no_code, role="head",
    params=(
        Choice("loss", "mse", ("mse", "l1", "huber"),
               "MSE punishes big errors most; L1 and Huber are robust to outliers."),
        Float("delta", 1.0, 1e-6, 1e6, "Huber: errors below this are squared, above it linear."),
    ),
    loss=lambda p: {"mse": "nn.MSELoss()", "l1": "nn.L1Loss()"}.get(
        p["loss"], call("nn.HuberLoss", delta=p["delta"])),
    summary=("loss",),
)

OUTPUT = BlockSpec(
    "Output", "Output", CATEGORY,
    "Marks a network output with no loss of its own, e.g. a GAN generator's images.",
    infer=_regression_shape, emit=_no_code, role="head",
    loss=lambda p: None,
)

BLOCKS = (CLASSIFICATION_HEAD, SEGMENTATION_HEAD, BINARY_HEAD, REGRESSION_HEAD, OUTPUT)
