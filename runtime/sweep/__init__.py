"""Hyper-parameter sweeps: a project plus a search space, searched by optuna, one run folder per trial.

    from runtime.sweep.sweep import Sweep, SweepSettings
    sweep = Sweep.start(project, registry, Path("runs/my-sweep"), SweepSettings(space=[...], trials=20))
    results = sweep.run()        # results.json, best.dw.json and study.db in the sweep folder

space.py reads and checks search spaces, apply.py applies a trial's values
to a copy of the project, trial.py trains one trial (here or in a child
process), sweep.py drives optuna, results.py ranks and prints. No Qt here;
optuna and torch are imported only by sweep.py and trial.py (the studio
imports space.py and results.py, which need neither).
"""

from __future__ import annotations

from runtime.sweep.space import SpaceError, default_space, parse_space, read_space_file

__all__ = ["SpaceError", "default_space", "parse_space", "read_space_file"]
