"""Cases for the sequence blocks: RNN, LSTM, GRU, attention, Transformer blocks, positional encodings."""

from tests.cases import bad, case

RECURRENT_CASES = [
    case(kind, {"hidden_size": hidden, "num_layers": layers, "bidirectional": both, "output": output},
         x=(length, features))
    for kind in ("RNN", "LSTM", "GRU")
    for hidden, layers, both, output, length, features in (
        (8, 1, False, "sequence", 5, 3),
        (5, 2, True, "sequence", 4, 7),
        (6, 1, True, "last", 3, 2),
        (4, 3, False, "last", 6, 1),
        (3, 2, True, "last", 1, 5),  # a single time step
    )
]

CASES = [
    *RECURRENT_CASES,
    case("RNN", {"hidden_size": 7, "nonlinearity": "relu", "output": "last"}, x=(4, 3)),
    case("RNN", {"hidden_size": 4, "num_layers": 2, "dropout": 0.3, "nonlinearity": "relu"}, x=(5, 2)),
    case("LSTM", {"hidden_size": 9, "num_layers": 2, "dropout": 0.5, "bidirectional": True,
                  "output": "last"}, x=(6, 4)),
    case("GRU", {"hidden_size": 11, "num_layers": 2, "dropout": 0.2}, x=(3, 13)),
    case("LSTM", {}, x=(4, 2)),
    bad("LSTM", {"dropout": 0.2}, error="dropout only acts between layers", x=(5, 3)),
    bad("GRU", {"dropout": 0.1, "num_layers": 1}, error="set num_layers to 2 or more", x=(5, 3)),
    bad("LSTM", {}, error="expects a sequence (B, T, F) but receives a flat vector (B, 64)", x=(64,)),
    bad("RNN", {}, error="Permute it to (B, 64, 3)", x=(3, 8, 8)),
    bad("GRU", {"output": "last"}, error="Embedding", x=(10,)),
    bad("LSTM", {}, error="Reshape it to (B, 28, 28) so each row of pixels becomes one step", x=(1, 28, 28)),

    case("SelfAttention", {}, x=(5, 8)),
    case("SelfAttention", {"heads": 3, "causal": True}, x=(7, 9)),
    case("SelfAttention", {"heads": 1, "dropout": 0.2}, x=(1, 5)),
    case("SelfAttention", {"heads": 2, "causal": True, "dropout": 0.1}, x=(4, 6)),
    bad("SelfAttention", {"heads": 4}, error="cannot split 10 features into 4 equal heads", x=(5, 10)),
    bad("SelfAttention", {"heads": 3}, error="1, 2, 4, 8", x=(5, 8)),
    bad("SelfAttention", {}, error="expects a sequence (B, T, D)", x=(16,)),

    case("CrossAttention", {"heads": 2}, x=(5, 8), context=(3, 6)),
    case("CrossAttention", {"heads": 4}, x=(2, 8), context=(9, 8)),
    case("CrossAttention", {"heads": 1, "dropout": 0.3}, x=(1, 3), context=(1, 7)),
    bad("CrossAttention", {"heads": 3}, error="cannot split 8 features into 3", x=(5, 8), context=(3, 6)),
    bad("CrossAttention", {}, error="expects a sequence (B, S, E)", x=(5, 8), context=(6,)),

    case("TransformerEncoderBlock", {}, x=(5, 8)),
    case("TransformerEncoderBlock", {"heads": 3, "feedforward": 10, "causal": True}, x=(6, 9)),
    case("TransformerEncoderBlock", {"heads": 2, "feedforward": 7, "norm_first": False, "dropout": 0.0},
         x=(4, 6)),
    case("TransformerEncoderBlock", {"heads": 1, "feedforward": 3, "causal": True, "norm_first": False},
         x=(1, 5)),
    bad("TransformerEncoderBlock", {"heads": 4}, error="cannot split 6 features", x=(5, 6)),
    bad("TransformerEncoderBlock", {}, error="Permute", x=(3, 4, 4)),

    case("TransformerDecoderBlock", {"heads": 2, "feedforward": 12}, x=(5, 8), memory=(3, 8)),
    case("TransformerDecoderBlock", {"heads": 3, "feedforward": 5, "causal": False, "norm_first": False},
         x=(4, 9), memory=(7, 9)),
    case("TransformerDecoderBlock", {"heads": 1, "dropout": 0.0}, x=(1, 5), memory=(1, 5)),
    bad("TransformerDecoderBlock", {"heads": 2}, error="put a Linear with 8 features on the memory wire",
        x=(5, 8), memory=(3, 6)),
    bad("TransformerDecoderBlock", {"heads": 5}, error="cannot split 8 features into 5", x=(5, 8),
        memory=(3, 8)),
    bad("TransformerDecoderBlock", {}, error="expects a sequence (B, S, D)", x=(5, 8), memory=(8,)),

    case("PositionalEncoding", {}, x=(5, 8)),
    case("ClassToken", {}, x=(4, 6)),
    case("ClassToken", {}, x=(1, 3)),
    bad("ClassToken", {}, error="expects a sequence (B, T, D)", x=(3, 4, 4)),
    case("PositionalEncoding", {"kind": "sinusoidal", "max_length": 7}, x=(7, 5)),
    case("PositionalEncoding", {"kind": "learned", "max_length": 10}, x=(6, 3)),
    case("PositionalEncoding", {"kind": "learned", "max_length": 4}, x=(4, 1)),
    bad("PositionalEncoding", {"max_length": 6}, error="set max_length to at least 9", x=(9, 4)),
    bad("PositionalEncoding", {"kind": "learned", "max_length": 3}, error="at most 3 steps", x=(4, 4)),
    bad("PositionalEncoding", {}, error="expects a sequence (B, T, D)", x=(12,)),
]
