"""Input blocks: where data enters a network. Their shape is their parameters."""

from __future__ import annotations

from graph.params import Int
from graph.spec import BlockSpec, Emission

CATEGORY = "Inputs"


def _no_code(p, ins, out):
    return Emission(None, "")


IMAGE_INPUT = BlockSpec(
    "ImageInput", "Image input", CATEGORY,
    "A batch of images (B, C, H, W): C colour channels of H×W pixels.",
    infer=lambda p, ins: (p["channels"], p["height"], p["width"]),
    emit=_no_code, role="input", inputs=(),
    params=(
        Int("channels", 1, 1, 4096, "Colour channels: 1 for grey, 3 for RGB."),
        Int("height", 28, 1, 65536, "Image height in pixels."),
        Int("width", 28, 1, 65536, "Image width in pixels."),
    ),
    summary=("channels", "height", "width"),
)

SEQUENCE_INPUT = BlockSpec(
    "SequenceInput", "Sequence input", CATEGORY,
    "A batch of sequences (B, T, F): T time steps of F features each.",
    infer=lambda p, ins: (p["length"], p["features"]),
    emit=_no_code, role="input", inputs=(),
    params=(
        Int("length", 32, 1, 1_000_000, "Time steps per sequence (T)."),
        Int("features", 1, 1, 1_000_000, "Features per time step (F)."),
    ),
    summary=("length", "features"),
)

TOKEN_INPUT = BlockSpec(
    "TokenInput", "Token ids input", CATEGORY,
    "A batch of integer token ids (B, T), e.g. characters of a text; feed it into Embedding.",
    infer=lambda p, ins: (p["length"],),
    emit=_no_code, role="input", inputs=(),
    params=(
        Int("length", 64, 1, 1_000_000, "Tokens per sequence (T)."),
        Int("vocab_size", 128, 2, 10_000_000, "How many different token ids exist."),
    ),
    summary=("length", "vocab_size"),
)

VECTOR_INPUT = BlockSpec(
    "VectorInput", "Tabular input", CATEGORY,
    "A batch of feature vectors (B, F), e.g. the columns of a table.",
    infer=lambda p, ins: (p["features"],),
    emit=_no_code, role="input", inputs=(),
    params=(Int("features", 4, 1, 10_000_000, "Features per sample (F)."),),
    summary=("features",),
)

NOISE_INPUT = BlockSpec(
    "NoiseInput", "Latent noise", CATEGORY,
    "Random latent vectors (B, Z) a generator turns into samples (GANs).",
    infer=lambda p, ins: (p["size"],),
    emit=_no_code, role="input", inputs=(),
    params=(Int("size", 64, 1, 1_000_000, "Length of each noise vector (Z)."),),
    summary=("size",),
)

BLOCKS = (IMAGE_INPUT, SEQUENCE_INPUT, TOKEN_INPUT, VECTOR_INPUT, NOISE_INPUT)
