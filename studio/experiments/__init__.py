"""The Experiments panel: hyper-parameter sweeps (runtime/sweep) from the studio."""
