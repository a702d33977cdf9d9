"""Hand-written models of the import corpus: the ways people write forward() that trip importers.

Each is small and written for this corpus: an `input` argument, nn.Sequential
factories, optional mask arguments, tied weights (a tiny GPT whose head is its
embedding), a siamese net (one module used twice), module weights used
functionally, the usual reshape spellings, and Python torch.fx cannot follow
(x.is_cuda, len(), assert, branches on sizes). DataDependent branches on tensor
values: no capture can import it, and the import must say so, naming the line.
"""

import torch
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn


class InputArgument(nn.Module):
    """forward(self, input): torch's own spelling of the argument."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 3)

    def forward(self, input):
        return self.fc2(torch.relu(self.fc1(input)))


def sequential_mlp():
    """A model that is only an nn.Sequential, returned by a factory function."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))


def sequential_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))


def bare_linear():
    return nn.Linear(12, 3)


class MaskedEncoder(nn.Module):
    """Optional arguments (mask=None, targets=None) left at their defaults by the import."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(16, 4)

    def forward(self, tokens, mask=None, targets=None):
        x = self.encoder(self.embed(tokens), src_key_padding_mask=mask)
        logits = self.fc(x.mean(dim=1))
        if targets is not None:
            return F.cross_entropy(logits, targets)
        return logits


class TinyGpt(nn.Module):
    """A language model whose output layer is its token embedding (tied weights)."""

    def __init__(self, vocab=128, dim=16, length=12):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Parameter(torch.zeros(1, length, dim))
        self.block = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True, activation="gelu")
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tokens.weight

    def forward(self, idx):
        x = self.tokens(idx) + self.positions  # nanoGPT: token embedding plus a learned position table
        return self.head(self.norm(self.block(x)))


class Siamese(nn.Module):
    """One encoder applied to two inputs (a shared module), the two codes compared."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 8))
        self.score = nn.Linear(16, 1)

    def forward(self, left, right):
        return self.score(torch.cat([self.encoder(left), self.encoder(right)], dim=1))


class FunctionalWeights(nn.Module):
    """Module weights used in F calls: F.layer_norm(x, ..., self.ln.weight, ...), F.linear(x, self.w)."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(12)
        self.w = nn.Parameter(torch.randn(8, 12) * 0.1)
        self.b = nn.Parameter(torch.zeros(8))
        self.conv = nn.Conv2d(3, 4, 3)
        self.out = nn.Linear(8 + 4, 3)

    def forward(self, x, image):
        x = F.layer_norm(x, (12,), self.ln.weight, self.ln.bias, 1e-5)
        x = F.relu(F.linear(x, self.w, self.b))
        y = F.conv2d(image, self.conv.weight, self.conv.bias, padding=1).mean((2, 3))
        return self.out(torch.cat([x, y], 1))


class ReshapeSpellings(nn.Module):
    """Flattening written five ways: view(-1, n), reshape(size(0), -1), flatten(1), view(b, -1), x.shape."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(4 * 8 * 8, 32), nn.Linear(32, 5)

    def forward(self, x):
        b, c, h, w = x.size()
        x = torch.relu(self.conv(x))
        x = x.view(-1, 4 * h * w)
        x = x.reshape(x.size(0), 4, h, w)
        x = x.reshape(x.shape[0], -1)
        x = self.fc1(x).view(b, -1)
        return self.fc2(x.flatten(1))


class IsCuda(nn.Module):
    """Branches on x.is_cuda: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        if x.is_cuda:
            x = x.half()
        return self.fc(x)


class LenOfBatch(nn.Module):
    """Reads len(x) and an assert on the input's shape: torch.fx refuses both."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        assert x.dim() == 4, "images (B, C, H, W)"
        n = len(x)
        return self.fc(torch.relu(self.conv(x)).view(n, -1))


class SizeBranch(nn.Module):
    """Chooses a pooling by the input's size (a Python branch on a shape)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.conv(x))
        if x.shape[-1] > 16:
            x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class DataDependent(nn.Module):
    """Branches on a tensor's values: neither torch.fx nor torch.export can capture one graph."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        if x.sum() > 0:
            x = -x
        return self.fc(x)


class ModuleListResidual(nn.Module):
    """Residual MLP blocks in an nn.ModuleList, looped over in forward()."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(10, 16)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 16), nn.GELU())
                                    for _ in range(3))
        self.out = nn.Linear(16, 2)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)


class GruClassifier(nn.Module):
    """A GRU reading its final hidden state h_n[-1]."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(6, 12, num_layers=2, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        _, h = self.gru(x)
        return self.fc(h[-1])


class ConvAutoencoder(nn.Module):
    """Down with strided convolutions, up with transposed ones; outputs the image's size."""

    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(16, 8, 2, 2), nn.ReLU(), nn.ConvTranspose2d(8, 1, 2, 2),
                                nn.Sigmoid())

    def forward(self, x):
        return self.up(self.down(x))


class SqueezeExcite(nn.Module):
    """A CNN with a squeeze-excitation gate: x * sigmoid(fc(mean(x))), broadcast over the positions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.squeeze = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.ReLU(),
                                     nn.Conv2d(2, 8, 1), nn.Sigmoid())
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = x * self.squeeze(x)
        return self.fc(x.mean((2, 3)))


class TimeFirstLstm(nn.Module):
    """An LSTM with torch's default batch_first=False, fed (T, B, F) by a transpose; the last step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 10)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        out, _ = self.lstm(x.transpose(0, 1))
        return self.fc(out[-1])


ENTRY_SHAPES = {  # name -> (--input-shape values, head)
    "InputArgument": (["12"], "classification"),
    "sequential_mlp": (["1,8,8"], "classification"),
    "sequential_cnn": (["1,8,8"], "classification"),
    "bare_linear": (["12"], "regression"),
    "MaskedEncoder": (["tokens=10"], "classification"),
    "TinyGpt": (["idx=12"], "classification"),
    "Siamese": (["left=10", "right=10"], "binary"),
    "FunctionalWeights": (["x=12", "image=3,8,8"], "classification"),
    "ReshapeSpellings": (["2,8,8"], "classification"),
    "IsCuda": (["12"], "classification"),
    "LenOfBatch": (["1,8,8"], "classification"),
    "SizeBranch": (["3,32,32"], "classification"),
    "DataDependent": (["12"], "classification"),
    "ModuleListResidual": (["10"], "regression"),
    "GruClassifier": (["9,6"], "classification"),
    "ConvAutoencoder": (["1,8,8"], "regression"),
    "SqueezeExcite": (["3,8,8"], "classification"),
    "TimeFirstLstm": (["7,5"], "classification"),
}
