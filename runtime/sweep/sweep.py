"""The sweep: ask optuna for values, train a trial with them, tell optuna how it went; repeat.

    sweep = Sweep.start(project, registry, sweep_dir, settings, project_path, listeners)
    sweep = Sweep.resume(sweep_dir, registry, listeners, trials=30)
    results = sweep.run()

The sweep folder:
    sweep.json        the settings (space, sampler, metric, budget): what --resume reads
    project.dw.json   the project the sweep started from
    study.db          optuna's study (SQLite): every trial, its values and intermediate results
    trial_0000/ ...   one ordinary run folder per trial (summary.json has a "sweep" entry)
    logs/             parallel trials' stderr
    results.json      trials ranked, best trial, baseline comparison, parameter importance
    best.dw.json      the project with the best trial's values

Trials run one after another in this process, or `parallel` at a time in
child processes (each with its own GPU when there are GPUs). A trial that
crashes, or whose values make the network invalid, is recorded as FAIL with
the message and the sweep goes on. Stop (Ctrl+C, SIGTERM, a "stop" line on
stdin, or `stop.set()`) stops the running trials cleanly; they are recorded
as interrupted and a resumed sweep runs them again first.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import monotonic, perf_counter
from typing import Any

from graph.atomic import write_text
from graph.model import Project
from graph.project_io import load_project, save_project
from graph.spec import Registry
from runtime.sweep import results as res
from runtime.sweep.apply import InvalidTrialError, apply_values
from runtime.sweep.space import Dimension, SpaceError, parse_space, project_values
from runtime.sweep.trial import ChildTrial, TrialWatcher, child_env, run_in_process
from runtime.train.events import plain_json
from runtime.train.stop import StopFlag

SETTINGS, BASE_PROJECT, STUDY_DB, RESULTS, BEST_PROJECT = (
    "sweep.json", "project.dw.json", "study.db", "results.json", "best.dw.json")
SAMPLERS = ("tpe", "random", "grid")
STUDY_NAME = "deepwire-sweep"


@dataclass
class SweepSettings:
    """Everything that defines a sweep; saved as sweep.json so --resume continues it exactly."""

    space: list[dict[str, Any]]  # the entries, as in a space file
    trials: int = 20  # total trials the study should reach (a resumed sweep counts the earlier ones)
    sampler: str = "tpe"
    seed: int = 0
    metric: str = "auto"  # "accuracy", "loss", or another validation metric; auto: accuracy for classifiers
    epochs: int | None = None  # overrides the project's epochs for every trial
    max_seconds: float | None = None  # no new trial after this; the running ones are cut short
    parallel: int = 1
    gpus: int = 0  # parallel trials get GPU (worker % gpus); 0: the default device
    prune: bool = True  # stop trials whose validation metric falls below the median of earlier trials
    baseline: bool = True  # the first trial uses the project's own values (when they lie in the space)
    base_dir: str = ""  # where the project's relative data paths are read from
    project_path: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepSettings:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class SweepStop(StopFlag):
    """The sweep's stop flag: setting it also stops every trial that is running."""

    def __init__(self) -> None:
        super().__init__()
        self.trials: set[Callable[[], None]] = set()

    def set(self, reason: str = "stopped") -> None:
        super().set(reason)
        for stop_trial in list(self.trials):
            stop_trial()


def resolve_metric(metric: str, project: Project) -> tuple[str, bool]:
    """(validation metric name, True when higher is better)."""
    from runtime.train.metrics import HIGHER_IS_BETTER

    if metric == "auto":
        headline = {"classification": "accuracy", "segmentation": "mean_iou"}
        metric = headline.get(project.training.recipe, "loss")
    return metric, "accuracy" in metric or metric in HIGHER_IS_BETTER


@dataclass
class _Session:
    started: int = 0
    deadline: float | None = None
    wall_start: float = field(default_factory=perf_counter)


class Sweep:
    def __init__(self, sweep_dir: Path, settings: SweepSettings, project: Project, registry: Registry,
                 listeners=(), stop: SweepStop | None = None):
        self.dir = Path(sweep_dir)
        self.settings = settings
        self.project = project
        self.registry = registry
        self.listeners = list(listeners)
        self.stop = stop or SweepStop()
        self.dims: list[Dimension] = parse_space(settings.space, project, registry)
        if settings.sampler not in SAMPLERS:
            raise SpaceError(f"unknown sampler {settings.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        self.metric, self.maximize = resolve_metric(settings.metric, project)
        if self.metric in ("accuracy", "loss") and project.training.recipe != "gan":
            # the run's best.pt is then the epoch the sweep scores the trial by
            self.project.training = self.project.training.replace(monitor=self.metric)
        self.lock = threading.RLock()
        self._emit_lock = threading.Lock()
        self.session = _Session()
        self.study = None

    # --- starting and resuming ------------------------------------------------------------------
    @classmethod
    def start(cls, project: Project, registry: Registry, sweep_dir: Path, settings: SweepSettings,
              listeners=(), stop: SweepStop | None = None) -> Sweep:
        sweep_dir = Path(sweep_dir)
        if sweep_dir.exists() and any(sweep_dir.iterdir()):
            raise SpaceError(f"{sweep_dir}: this folder already holds files; choose another --out folder, "
                             "or --resume it to continue that sweep")
        project = project.copy()
        if settings.epochs is not None:
            project.training = project.training.replace(epochs=settings.epochs)
        sweep = cls(sweep_dir, settings, project, registry, listeners, stop)  # checks the space first
        sweep_dir.mkdir(parents=True, exist_ok=True)
        save_project(project, sweep_dir / BASE_PROJECT)
        sweep.settings.space = [dim.to_json() for dim in sweep.dims]
        sweep._write_settings()
        return sweep

    @classmethod
    def resume(cls, sweep_dir: Path, registry: Registry, listeners=(), stop: SweepStop | None = None,
               **changes: Any) -> Sweep:
        """Continue a sweep from its folder; `changes` may raise trials, max_seconds or parallel."""
        sweep_dir = Path(sweep_dir)
        if not (sweep_dir / SETTINGS).is_file() or not (sweep_dir / STUDY_DB).is_file():
            raise SpaceError(f"{sweep_dir}: not a sweep folder (it has no {SETTINGS} and {STUDY_DB}); "
                             "give the folder a sweep wrote")
        settings = SweepSettings.from_json(json.loads((sweep_dir / SETTINGS).read_text(encoding="utf-8")))
        for key, value in changes.items():
            if value is not None:
                setattr(settings, key, value)
        project = load_project(sweep_dir / BASE_PROJECT, registry)
        sweep = cls(sweep_dir, settings, project, registry, listeners, stop)
        sweep._write_settings()
        return sweep

    def _write_settings(self) -> None:
        text = json.dumps(asdict(self.settings), indent=2)
        write_text(self.dir / SETTINGS, text + "\n")

    # --- optuna -----------------------------------------------------------------------------------
    def _open_study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = f"sqlite:///{(self.dir / STUDY_DB).resolve()}"
        existing = 0
        if (self.dir / STUDY_DB).is_file():
            try:
                existing = len(optuna.load_study(study_name=STUDY_NAME, storage=storage).trials)
            except KeyError:
                existing = 0
        seed = self.settings.seed + existing  # a resumed sweep must not replay the same random values
        if self.settings.sampler == "grid":
            sampler = _GridSampler({d.name: d.grid_values() for d in self.dims}, seed=seed)
        elif self.settings.sampler == "random":
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            startup = min(10, max(3, self.settings.trials // 3))  # random trials before TPE models the space
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
        # judge a trial from the middle of its training on: early epochs say little about the end
        # (warm-up, a cosine schedule), and a median of few finished trials is a noisy bar
        warmup = max(2, (self.project.training.epochs + 1) // 2)
        pruner = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)
                  if self.settings.prune else optuna.pruners.NopPruner())
        direction = "maximize" if self.maximize else "minimize"
        self.study = optuna.create_study(storage=storage, study_name=STUDY_NAME, sampler=sampler,
                                         pruner=pruner, direction=direction, load_if_exists=True)
        if existing:
            self._recover_interrupted()
        elif self.settings.baseline and self.settings.sampler != "grid":
            values = project_values(self.project, self.dims)
            if len(values) == len(self.dims):
                self.study.enqueue_trial(values, user_attrs={"baseline": True})

    def _recover_interrupted(self) -> None:
        """Trials left running by a killed sweep become FAIL; interrupted ones are queued to run again."""
        from optuna.trial import TrialState

        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(trial.number, state=TrialState.FAIL)
        trials = self.study.get_trials(deepcopy=False)
        rerun = {t.user_attrs.get("rerun_of") for t in trials}  # waiting re-runs included
        for trial in trials:
            if res.is_interrupted(trial) and trial.number not in rerun:
                attrs = {"rerun_of": trial.number, "baseline": bool(trial.user_attrs.get("baseline"))}
                self.study.enqueue_trial(dict(trial.params), user_attrs=attrs)

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out = {}
        for dim in self.dims:
            if dim.kind == "choice":
                out[dim.name] = CategoricalDistribution(list(dim.choices))
            elif dim.kind == "int":
                out[dim.name] = IntDistribution(int(dim.low), int(dim.high), log=dim.log, step=dim.step or 1)
            else:
                out[dim.name] = FloatDistribution(dim.low, dim.high, log=dim.log)
        return out

    def _counted(self) -> int:
        """Trials that count against the budget: finished ones, not counting interrupted ones."""
        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.state.name in ("COMPLETE", "PRUNED", "FAIL") and not res.is_interrupted(t))

    def budget(self) -> int:
        """How many trials the study should reach (the grid caps it at the grid's size)."""
        total = self.settings.trials
        if self.settings.sampler == "grid":
            total = min(total, math.prod(len(d.grid_values()) for d in self.dims))
        return total

    # --- running ---------------------------------------------------------------------------------
    def emit(self, data: dict[str, Any]) -> None:
        data = plain_json(data)
        with self._emit_lock:  # parallel trials' events: whole lines, one at a time
            for listener in self.listeners:
                listener(data)

    def run(self) -> dict[str, Any]:
        """Run trials until the budget is spent or the sweep is stopped; returns the results."""
        self._open_study()
        s = self.settings
        self.session = _Session(deadline=monotonic() + s.max_seconds if s.max_seconds else None)
        self._todo = max(0, self.budget() - self._counted())
        self.emit({"kind": "sweep_started", "sweep_dir": str(self.dir), "project": self.project.name,
                   "metric": self.metric, "direction": "maximize" if self.maximize else "minimize",
                   "sampler": s.sampler, "trials": self.budget(), "to_run": self._todo,
                   "parallel": s.parallel, "space": [d.to_json() for d in self.dims],
                   "done": [res.trial_row(t) for t in self.study.get_trials(deepcopy=False)
                            if t.state.name != "WAITING"]})
        if s.parallel <= 1:
            while self._claim():
                self._trial(worker=0)
        else:
            workers = [threading.Thread(target=self._worker, args=(i,), name=f"sweep-worker-{i}", daemon=True)
                       for i in range(s.parallel)]
            for worker in workers:
                worker.start()
            for worker in workers:
                while worker.is_alive():
                    worker.join(0.2)  # short waits keep the main thread free for Ctrl+C
        results = self.write_results()
        reason = "stopped" if self.stop.requested else (
            "time_limit" if self._out_of_time() else "completed")
        self.emit({"kind": "importance", "values": results["importance"], "note": results["importance_note"]})
        self.emit({"kind": "sweep_finished", "reason": reason, "best": results["best"],
                   "comparison": results["comparison"], "results": str(self.dir / RESULTS),
                   "best_project": results["best_project"], "trials": len(results["trials"]),
                   "seconds": perf_counter() - self.session.wall_start})
        results["reason"] = reason
        return results

    def _worker(self, index: int) -> None:
        while self._claim():
            self._trial(worker=index)

    def _out_of_time(self) -> bool:
        deadline = self.session.deadline
        return deadline is not None and monotonic() >= deadline

    def _claim(self) -> bool:
        """Take one trial from the budget, if there is budget, time and no stop."""
        with self.lock:
            if self.stop.requested or self._out_of_time() or self._todo <= 0:
                return False
            self._todo -= 1
            return True

    def _report(self, trial, value: float, epoch: int, final: bool) -> bool:
        with self.lock:
            trial.report(value, epoch)
            # the last epoch is never pruned: the trial has finished, so it counts as complete
            return self.settings.prune and not final and trial.should_prune()

    def _trial(self, worker: int) -> None:
        from optuna.trial import TrialState

        with self.lock:
            trial = self.study.ask(self._distributions())
        number, params = trial.number, dict(trial.params)
        run_dir = self.dir / f"trial_{number:04d}"
        baseline = bool(trial.user_attrs.get("baseline"))
        self.emit({"kind": "trial_started", "trial": number, "params": params, "run_dir": str(run_dir),
                   "baseline": baseline})
        start = perf_counter()

        def report(value: float, epoch: int, final: bool) -> bool:
            return self._report(trial, value, epoch, final)

        watcher = TrialWatcher(number, self.metric, self.maximize, report, self.emit)
        try:
            trial_project = apply_values(self.project, self.dims, params, self.registry)
        except InvalidTrialError as err:
            watcher.error = str(err)
        else:
            try:
                self._train(trial_project, run_dir, watcher, worker)
            except Exception as err:  # noqa: BLE001 - e.g. a child process that cannot start: a failed trial
                watcher.error = watcher.error or f"{type(err).__name__}: {err}"
        seconds = perf_counter() - start
        state, message, interrupted = self._judge(watcher)
        attrs = (("run_dir", str(run_dir) if run_dir.exists() else ""), ("epochs", watcher.epochs),
                 ("seconds", seconds), ("message", message), ("interrupted", interrupted))
        with self.lock:  # one writer at a time: parallel trials share the SQLite study
            for key, value in attrs:
                trial.set_user_attr(key, value)
            if state == "COMPLETE":
                frozen = self.study.tell(trial, watcher.best)
            else:
                frozen = self.study.tell(trial, state=getattr(TrialState, state))
        row = res.trial_row(frozen)
        _note_in_summary(run_dir, row)
        self.emit({"kind": "trial_finished", **row})
        with self.lock:
            self.write_results(importance=False)

    def _train(self, project: Project, run_dir: Path, watcher: TrialWatcher, worker: int) -> None:
        deadline = self.session.deadline
        max_seconds = max(1.0, deadline - monotonic()) if deadline is not None else None
        base_dir = Path(self.settings.base_dir) if self.settings.base_dir else None
        project_path = Path(self.settings.project_path) if self.settings.project_path else None
        if self.settings.parallel <= 1:
            stop = StopFlag()
            stopper = lambda: stop.set("stopped")  # noqa: E731
            self.stop.trials.add(stopper)
            try:
                if self.stop.requested:
                    return
                run_in_process(project, self.registry, run_dir, base_dir, project_path, max_seconds,
                               watcher, stop)
            finally:
                self.stop.trials.discard(stopper)
            return
        from graph.project_io import dumps_project

        threads = None if self.settings.gpus else max(1, (os.cpu_count() or 1) // self.settings.parallel)
        spec = {"project": dumps_project(project), "run_dir": str(run_dir), "max_seconds": max_seconds,
                "base_dir": str(base_dir or ""), "project_path": str(project_path or ""), "threads": threads}
        name = run_dir.name
        gpu = worker % self.settings.gpus if self.settings.gpus else None
        child = ChildTrial(spec, self.dir / "logs" / f"{name}.json", self.dir / "logs" / f"{name}.log",
                           child_env(gpu, spec["threads"]))
        self.stop.trials.add(child.stop)
        try:
            if self.stop.requested:
                child.stop()
            child.run(watcher)
        finally:
            self.stop.trials.discard(child.stop)

    def _judge(self, watcher: TrialWatcher) -> tuple[str, str, bool]:
        """(optuna state name, message, interrupted) of a trial that has ended."""
        if watcher.pruned:
            return "PRUNED", f"pruned after epoch {watcher.epochs}: below the median of earlier trials", False
        if watcher.error:
            return "FAIL", watcher.error, False
        if watcher.reason == "stopped" and self.stop.requested:
            return "FAIL", "stopped with the sweep before it finished; a resumed sweep runs it again", True
        if watcher.reason in ("time_limit", "stopped"):
            return "PRUNED", f"cut short by the sweep's time budget after {watcher.epochs} epochs", False
        if watcher.best is None:
            return "FAIL", (f"the run reported no validation '{self.metric}'; give the project a validation "
                            "split (val_fraction above 0) or choose another --metric"), False
        return "COMPLETE", "", False

    # --- results ---------------------------------------------------------------------------------
    def write_results(self, importance: bool = True) -> dict[str, Any]:
        """results.json (and best.dw.json when there is a best trial); returns what it wrote."""
        trials = self.study.get_trials(deepcopy=False)
        rows = res.rank([res.trial_row(t) for t in trials if t.state.name not in ("WAITING", "RUNNING")],
                        self.maximize)
        best = next((r for r in rows if r["state"] == "COMPLETE"), None)
        best_path = ""
        if best is not None:
            try:
                project = apply_values(self.project, self.dims, best["params"], self.registry)
                project.name = f"{self.project.name} (best of sweep)"
                save_project(project, self.dir / BEST_PROJECT)
                best_path = str(self.dir / BEST_PROJECT)
            except (InvalidTrialError, OSError, ValueError):
                best_path = ""
        shares, note = res.importance(self.study) if importance else ({}, "")
        results = {"sweep_dir": str(self.dir), "project": self.project.name, "metric": self.metric,
                   "direction": "maximize" if self.maximize else "minimize", "sampler": self.settings.sampler,
                   "space": [d.to_json() for d in self.dims], "trials": rows, "best": best,
                   "best_project": best_path, "comparison": res.comparison(rows, self.maximize),
                   "importance": shares, "importance_note": note}
        text = json.dumps(plain_json(results), indent=2)
        write_text(self.dir / RESULTS, text + "\n")
        return results


def _grid_sampler_class():
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            # optuna's grid sampler stops an optimize() loop when the grid is done; the sweep asks
            # and tells itself and already caps its budget at the grid's size
            pass

    return GridSampler


def _GridSampler(*args, **kwargs):  # noqa: N802 - reads like the class it makes
    return _grid_sampler_class()(*args, **kwargs)


def _note_in_summary(run_dir: Path, row: dict[str, Any]) -> None:
    """Add the trial's number, values and outcome to its run's summary.json."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary["sweep"] = {k: row[k] for k in ("trial", "state", "value", "params", "message", "baseline")}
        write_text(path, json.dumps(plain_json(summary), indent=2) + "\n")
    except (OSError, ValueError, TypeError):  # TypeError: a summary.json that holds no object
        pass  # the run folder stays usable without the note
