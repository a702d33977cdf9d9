"""What last.pt keeps besides the weights, so a resumed run continues exactly where it stopped.

Optimizer, schedule and gradient-scaler state; the global torch RNG (and
CUDA's), which dropout, noise and augmentation draw from; the shuffling
generator's state at the start of the next epoch to run (the open epoch's
when a Stop came mid-epoch); the loop position, the losses read since the
last step event, the epoch's running sums; early-stopping and best-epoch
bookkeeping; the time and samples so far (for samples/s in the summary).
Everything is tensors, numbers, lists and dicts: loadable with weights_only=True.
"""

from __future__ import annotations

import torch

from runtime.train.checkpoint import load_models
from runtime.train.errors import SetupError
from runtime.train.runs import LAST
from runtime.weights_file import WeightsFileError


def resume_state(trainer) -> dict:
    t = trainer
    pending = t.carried + [v if isinstance(v, list) else [v]
                           for v in (torch.stack(t.pending).tolist() if t.pending else [])]
    return {
        "optimizers": {g: u.optimizer.state_dict() for g, u in t.updaters.items()},
        "schedulers": {g: u.scheduler.state_dict() for g, u in t.updaters.items() if u.scheduler},
        "scalers": {g: u.scaler.state_dict() for g, u in t.updaters.items() if u.scaler},
        "rng": {"torch": torch.get_rng_state(),
                "shuffle": t.epoch_shuffle_state if t.epoch_open else t.shuffle.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if t.device.type == "cuda" else []},
        "batch_in_epoch": t.batch_in_epoch, "pending": pending,
        "epoch_sums": t.epoch_sums, "epoch_count": t.epoch_count,
        "best_metric": t.best_metric, "best_epoch": t.best_epoch, "bad_epochs": t.bad_epochs,
        "last_val": t.last_val, "last_train": t.last_train,
        "train_seconds": t.train_seconds, "samples_seen": t.samples_seen,
        "config": dict(t.config.values),
    }


def restore_state(trainer, state: dict, warnings: list[str]) -> None:
    """Put a trainer (set up, not yet trained) back where the checkpoint left it."""
    t = trainer
    source = str(t.folder.file(LAST))
    load_models(t.models, state, source)
    r = state.get("resume")
    if r is None:
        raise SetupError(f"{source}: holds weights only, not the training state needed to resume")
    try:
        for group, updater in t.updaters.items():
            updater.optimizer.load_state_dict(r["optimizers"][group])
            if updater.scheduler is not None and group in r["schedulers"]:
                updater.scheduler.load_state_dict(r["schedulers"][group])
            if updater.scaler is not None and group in r["scalers"]:
                updater.scaler.load_state_dict(r["scalers"][group])
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, RuntimeError) as exc:
        raise SetupError(f"{source}: the optimizer state does not fit this project's settings ({exc}); "
                         "resume with the optimizer the run started with") from None
    try:
        _restore_loop(t, state, r, warnings)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
        raise WeightsFileError(source, f"its training state is damaged ({type(exc).__name__}: "
                                       f"{str(exc)[:200]}); start a new run, or resume from an intact "
                                       "last.pt") from None


def _restore_loop(t, state: dict, r: dict, warnings: list[str]) -> None:
    """RNG, loop position and bookkeeping from the checkpoint's 'resume' entry (any damage raises)."""
    torch.set_rng_state(r["rng"]["torch"])
    if t.device.type == "cuda" and r["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(r["rng"]["cuda"])
    torch.Generator().set_state(r["rng"]["shuffle"])  # refuses a damaged state now, not mid-epoch
    t.resume_shuffle = r["rng"]["shuffle"]
    t.epoch, t.step = int(state["epoch"]), int(state["step"])
    t.batch_in_epoch, t.carried = r["batch_in_epoch"], [list(row) for row in r["pending"]]
    t.epoch_sums, t.epoch_count = list(r["epoch_sums"]), r["epoch_count"]
    t.best_metric, t.best_epoch, t.bad_epochs = r["best_metric"], r["best_epoch"], r["bad_epochs"]
    t.last_val, t.last_train = dict(r["last_val"]), dict(r["last_train"])
    t.train_seconds, t.samples_seen = r["train_seconds"], r["samples_seen"]
    changed = sorted(k for k, v in r["config"].items() if t.config.values.get(k) != v and k != "epochs")
    if changed:
        warnings.append(f"resuming with settings that differ from the saved run: {', '.join(changed)}")
