"""Hand-written PyTorch models the import tests open with `deepwire import tests/import_models.py:NAME`.

Written the way people write them (torchvision's BasicBlock, F.relu and
torch.flatten, LSTM outputs unpacked as tuples), not the way DeepWire
exports code, so the importer meets the usual spellings.
"""

import torch
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: conv-bn-relu-conv-bn, plus the identity or a downsample, relu."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class TinyResNet(nn.Module):
    """A ResNet in torchvision's layout, small: stem, two stages of BasicBlocks, global pool, fc."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        downsample = nn.Sequential(nn.Conv2d(8, 16, kernel_size=1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2, downsample=downsample), BasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


class FunctionalMlp(nn.Module):
    """An MLP written with F.relu and torch.flatten, on 8×8 one-channel images (the digits data)."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 32)
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.hidden(x))
        x = self.drop(x)
        return self.out(x)


class LstmLastStep(nn.Module):
    """An LSTM classifier reading its last output step: out[:, -1, :]."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 16, num_layers=2, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.fc(out[:, -1, :])


class BiGruTagger(nn.Module):
    """A bidirectional GRU giving per-step scores, plus a whole-sequence score from h_n."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 6, batch_first=True, bidirectional=True)
        self.tags = nn.Linear(12, 3)

    def forward(self, x):
        out, _ = self.gru(x)
        return F.log_softmax(self.tags(out), dim=-1)


class WithFourier(nn.Module):
    """Uses torch.fft, which no DeepWire block does: the import must name it as a problem."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        spectrum = torch.fft.rfft(x, dim=-1).abs()
        return self.fc(torch.cat([x, spectrum[:, :8]], dim=1)[:, :16])


class TinyVgg(nn.Module):
    """VGG in torchvision's layout, small: features, adaptive pooling to 2×2, a view, classifier."""

    def __init__(self, num_classes=5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 2 * 2, 32), nn.ReLU(True), nn.Dropout(p=0.5), nn.Linear(32, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


class TokenTransformer(nn.Module):
    """A text classifier on torch's own Transformer layers: embedding, nn.TransformerEncoder with a
    final LayerNorm, attention pooling by nn.MultiheadAttention, then the mean over the steps."""

    def __init__(self, vocab=50, dim=16, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, 4, 32, dropout=0.0, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(dim),
                                             enable_nested_tensor=False)
        self.attend = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens):
        x = self.encoder(self.embed(tokens))
        x, _ = self.attend(x, x, x)
        return self.head(x.mean(dim=1))


class Branchy(nn.Module):
    """Control flow that depends on the values: torch.fx cannot trace it, and the import must say so."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return self.fc(-x)


class SharedLayer(nn.Module):
    """One Linear applied twice: one block holds it, the second use is another use of that block."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return self.fc(torch.tanh(self.fc(x)))


class ImageAndTable(nn.Module):
    """Two inputs, an image and a row of a table, joined with torch.cat before the classifier."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4 + 3, 5)

    def forward(self, image, table):
        x = self.pool(F.relu(self.conv(image))).flatten(1)
        return self.fc(torch.cat((x, table), dim=1))


class Upsampler(nn.Module):
    """A decoder step: conv, F.interpolate to twice the size (bilinear), conv, torch.sigmoid."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Conv2d(4, 4, 3, padding=1)
        self.outer = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x):
        x = F.interpolate(torch.relu(self.inner(x)), scale_factor=2, mode="bilinear")
        return torch.sigmoid(self.outer(x))


class TimeFirstGru(nn.Module):
    """A bidirectional GRU with torch's default batch_first=False: swapped in, its sequence swapped back."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 6, num_layers=2, bidirectional=True)
        self.tags = nn.Linear(12, 3)

    def forward(self, x):
        out, _ = self.gru(x.transpose(0, 1))
        return self.tags(out.transpose(0, 1))


class TimeFirstRnnState(nn.Module):
    """A time-first 2-layer RNN read through h_n[-1]; the swap spelt as a permute."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 8, num_layers=2)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        _, h = self.rnn(x.permute(1, 0, 2))
        return self.fc(h[-1])


class TimeFirstUnswapped(nn.Module):
    """A batch_first=False LSTM given (B, T, F) as it is: it would read the batch as time."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 4)

    def forward(self, x):
        return self.lstm(x)[0]


class ChannelsLastMlp(nn.Module):
    """ConvNeXt's block layout, small: a depthwise conv, then LayerNorm and Linear on (B, H, W, C)."""

    def __init__(self):
        super().__init__()
        self.dwconv = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.norm = nn.LayerNorm(4, eps=1e-6)
        self.up = nn.Linear(4, 8)
        self.down = nn.Linear(8, 4)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.down(F.gelu(self.up(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)
