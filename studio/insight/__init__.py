"""Insight on the canvas: gradient flow colours while training, and node previews of a block's output."""
