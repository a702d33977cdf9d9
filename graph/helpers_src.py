"""Source of the small helper classes generated code may need.

Some blocks have no single torch.nn layer (a causal self-attention that
returns only its output, positional encodings). Their classes are written
here once, as source text, and the compiler copies the ones a network uses
into the generated file, so the export stays one self-contained module.
Keep each short and readable: users will read it.
"""

from graph.backbones_src import BACKBONE_HELPERS

HELPERS: dict[str, str] = {
    "SinusoidalPositionalEncoding": '''
class SinusoidalPositionalEncoding(nn.Module):
    """Adds fixed sine/cosine position signals (Vaswani et al., 2017) to a (B, T, D) sequence.

    Feature 2i of position t gets sin(t / 10000^(2i/D)), feature 2i+1 gets cos of the same angle.
    """

    def __init__(self, dim, max_length=512):
        super().__init__()
        position = torch.arange(max_length).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        table = torch.zeros(max_length, dim)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency[: dim // 2])  # odd D: one cosine fewer
        # a fixed table, not learned and not saved: it is rebuilt identically on load
        self.register_buffer("table", table, persistent=False)

    def forward(self, x):
        return x + self.table[: x.shape[1]]
''',
    "LearnedPositionalEncoding": '''
class LearnedPositionalEncoding(nn.Module):
    """Adds a learned vector per position to a (B, T, D) sequence."""

    def __init__(self, dim, max_length=512):
        super().__init__()
        self.table = nn.Parameter(torch.randn(max_length, dim) * 0.02)

    def forward(self, x):
        return x + self.table[: x.shape[1]]
''',
    "ClassToken": '''
class ClassToken(nn.Module):
    """Puts one learned token in front of a (B, T, D) sequence: (B, T + 1, D), the class token of a ViT.

    Every sample gets the same token; what attention gathers into it is read at the end with x[:, 0].
    """

    def __init__(self, dim):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)
''',
    "SelfAttention": '''
class SelfAttention(nn.Module):
    """Multi-head self-attention over a (B, T, D) sequence; causal=True hides future steps."""

    def __init__(self, dim, heads, dropout=0.0, causal=False):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.causal = causal

    def forward(self, x):
        mask = None
        if self.causal:
            # -inf above the diagonal: step t ignores steps after t. The is_causal hint lets torch
            # use a faster kernel, but nn.MultiheadAttention still wants the mask itself.
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        out, _ = self.attention(x, x, x, attn_mask=mask, need_weights=False, is_causal=self.causal)
        return out
''',
    "CrossAttention": '''
class CrossAttention(nn.Module):
    """Multi-head attention: queries from x (B, T, D), keys and values from context (B, S, E)."""

    def __init__(self, dim, heads, context_dim=None, dropout=0.0):
        super().__init__()
        # context_dim=None: the context has D features too
        self.attention = nn.MultiheadAttention(
            dim, heads, dropout=dropout, kdim=context_dim, vdim=context_dim, batch_first=True
        )

    def forward(self, x, context):
        out, _ = self.attention(x, context, context, need_weights=False)
        return out
''',
    "TransformerEncoderBlock": '''
class TransformerEncoderBlock(nn.Module):
    """One Transformer encoder layer (attention + feed-forward, residuals, layer norm)."""

    def __init__(self, dim, heads, feedforward, dropout=0.1, causal=False, norm_first=True,
                 activation="gelu"):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(
            dim, heads, feedforward, dropout, activation=activation, batch_first=True, norm_first=norm_first
        )
        self.causal = causal

    def forward(self, x):
        mask = None
        if self.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        return self.layer(x, src_mask=mask, is_causal=self.causal)
''',
    "TransformerDecoderBlock": '''
class TransformerDecoderBlock(nn.Module):
    """One Transformer decoder layer: self-attention, cross-attention to memory, feed-forward.

    causal=True (the usual decoder) lets step t of x see only steps up to t; memory is seen whole.
    """

    def __init__(self, dim, heads, feedforward, dropout=0.1, causal=True, norm_first=True,
                 activation="gelu"):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(
            dim, heads, feedforward, dropout, activation=activation, batch_first=True, norm_first=norm_first
        )
        self.causal = causal

    def forward(self, x, memory):
        mask = None
        if self.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        return self.layer(x, memory, tgt_mask=mask, tgt_is_causal=self.causal)
''',
    "LayerScale": '''
class LayerScale(nn.Module):
    """Multiplies by a learned scale per channel or feature (CaiT, ConvNeXt, timm's vision Transformers).

    shape: (D,) scales the last axis; (C, 1, 1) the channels of an image, (C, 1) of a (B, C, L) input.
    """

    def __init__(self, shape, init=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full(shape, float(init)))

    def forward(self, x):
        return x * self.gamma
''',
    "StochasticDepth": '''
class StochasticDepth(nn.Module):
    """Stochastic depth (drop path): while training, drops a whole residual branch at random.

    mode "row" zeroes the input of a random share p of the samples, "batch" of the whole batch at once;
    what is kept is divided by 1 - p (scale_by_keep) so the expected value stays the same. At evaluation
    it passes its input unchanged.
    """

    def __init__(self, p, mode="row", scale_by_keep=True):
        super().__init__()
        self.p, self.mode, self.scale_by_keep = p, mode, scale_by_keep

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1) if self.mode == "row" else (1,) * x.dim()
        mask = x.new_empty(shape).bernoulli_(keep)
        if keep > 0.0 and self.scale_by_keep:
            mask.div_(keep)
        return x * mask
''',
}

# the pretrained backbones' classes live in their own file (they are long); same dict, same use
HELPERS.update(BACKBONE_HELPERS)
