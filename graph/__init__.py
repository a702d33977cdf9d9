"""DeepWire's pure model: block catalog, graph, shape inference, validation,
project files and the compiler to PyTorch source. No Qt, and no torch at import."""
