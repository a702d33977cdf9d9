"""The trainer: one loop for every recipe, with events, checkpoints, faults and resume.

    trainer = Trainer(project, registry, dataset, TrainOptions(run_dir=Path("runs/x")), [listener])
    summary = trainer.run()      # raises SetupError (bad project/data) or TrainingError

The hot loop is kept as lean as a hand-written one: data sits on the device
once and batches are slices of a shuffled permutation; the step's loss stays
a tensor (no `.item()`), and losses are read back together every
`log_every` steps, which is also when a NaN loss is noticed and the step
event goes out. Statistics hooks exist only on `stats_every` steps.

Resuming restores weights, optimizer and schedule state, every random
generator and the loop position (even mid-epoch, after Stop), so a resumed
run produces the same numbers as one that never stopped.
"""

from __future__ import annotations

import math
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import torch

from graph.model import Project
from graph.spec import Registry
from runtime.build import build_models
from runtime.data.base import Dataset
from runtime.train import events as ev
from runtime.train.checkpoint import load_checkpoint, load_models, make_checkpoint
from runtime.train.data import compile_for_training
from runtime.train.device import Precision, pick_device
from runtime.train.errors import SetupError, TrainingError
from runtime.train.faults import describe_failure, non_finite_failure
from runtime.train.optim import make_optimizer, make_scheduler
from runtime.train.recipes import RecipeSetup, make_recipe
from runtime.train.resume import restore_state, resume_state
from runtime.train.runs import BEST, LAST, RunFolder
from runtime.train.stats import BlockStatsCollector
from runtime.train.stop import StopFlag, stop_on_signals
from runtime.train.summary import build_summary
from runtime.train.updater import Updater


@dataclass
class TrainOptions:
    run_dir: Path
    resume: bool = False  # continue the run in run_dir from its last.pt
    max_seconds: float | None = None  # stop cleanly (with a checkpoint) after this much training
    project_path: Path | None = None  # where the project file is: relative paths are read beside it
    stop: StopFlag | None = None
    handle_signals: bool = True  # Ctrl+C / SIGTERM set the stop flag while training (main thread only)


class Trainer:
    def __init__(self, project: Project, registry: Registry, dataset: Dataset, options: TrainOptions,
                 listeners=()):
        self.project = project
        self.registry = registry
        self.dataset = dataset
        self.options = options
        self.config = project.training
        self.listeners = [ev.as_listener(listener) for listener in listeners]
        self.stop = options.stop or StopFlag()
        self.folder: RunFolder | None = None
        # loop position and history (all saved in last.pt)
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps done
        self.batch_in_epoch = 0
        self.carried: list[list[float]] = []  # step values not yet logged, read back from a checkpoint
        self.pending: list[torch.Tensor] = []
        self.epoch_sums: list[float] = []
        self.epoch_count = 0
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.last_val: dict[str, float] = {}
        self.last_train: dict[str, float] = {}
        self.train_seconds = 0.0
        self.samples_seen = 0

    def emit(self, event: ev.Event) -> None:
        for listener in self.listeners:
            listener.on_event(event)

    # --- the whole run ----------------------------------------------------------------------------
    def run(self) -> dict:
        wall_start = perf_counter()
        guard = stop_on_signals(self.stop) if self.options.handle_signals else nullcontext()
        with guard:
            try:
                self._setup()
            except SetupError as exc:
                self.emit(ev.RunError(str(exc), "setup", "fix the project or its data and start again"))
                self.emit(self._finished("failed", wall_start, {}))
                raise
            reason, failure = "completed", None
            try:
                reason = self._train()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, then re-raised
                failure = exc if isinstance(exc, TrainingError) else describe_failure(exc, self)
                reason = "failed"
                self.emit(ev.RunError(str(failure), failure.reason, failure.suggestion, failure.step,
                                      failure.epoch))
            test = {}
            if failure is None:
                try:
                    test = self._test_metrics()
                except Exception as exc:  # noqa: BLE001 - training is done; say so and keep its results
                    self.emit(ev.RunWarning(f"the test split could not be evaluated: {exc}"))
            summary = build_summary(self, reason, wall_start, test, failure)
            try:
                self.folder.write_summary(summary)
            except OSError as exc:  # a full disk must not hide why the run ended
                self.emit(ev.RunWarning(f"summary.json could not be written: {exc.strerror or exc}"))
            self.folder.close()
            self.emit(self._finished(reason, wall_start, test))
            if failure is not None:
                raise failure
            return summary

    def _finished(self, reason: str, wall_start: float, test: dict[str, float]) -> ev.Finished:
        return ev.Finished(
            reason=reason, epochs=self.epoch, steps=self.step, best_epoch=self.best_epoch,
            best_metric=self.best_metric, monitor=getattr(self, "monitor", "loss"),
            metrics=self.last_val or self.last_train, test_metrics=test,
            seconds=perf_counter() - wall_start,
            samples_per_second=self.samples_seen / self.train_seconds if self.train_seconds else 0.0,
            run_dir=str(self.options.run_dir))

    # --- set-up ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        config, project = self.config, self.project
        self.device = pick_device(config.device)
        self.precision = Precision(self.device, config.mixed_precision)
        self.compiled = compile_for_training(project, self.registry)
        torch.manual_seed(project.seed)  # same seed, same initial weights
        models, _ = build_models(project, self.registry, self.compiled)
        self.models = {name: model.to(self.device) for name, model in models.items()}
        from runtime.train.transfer import apply_transfer

        base_dirs = [Path.cwd()]  # a relative init_checkpoint is looked up here, then beside the project
        if self.options.project_path:
            base_dirs.append(Path(self.options.project_path).parent)
        self.frozen = apply_transfer(config, self.models, self.compiled, base_dirs)
        forward_models = self.models
        if config.compile:
            forward_models = {name: torch.compile(model) for name, model in self.models.items()}
        warnings: list[str] = []
        setup = RecipeSetup(project, self.compiled, forward_models, self.dataset, config, self.device,
                            self.precision, warnings)
        self.recipe = recipe = make_recipe(setup)
        self.monitor = self._pick_monitor()

        n = len(recipe.train_data)
        self.batch_size = min(config.batch_size, n)
        steps = math.ceil(n / self.batch_size)
        if steps > 1 and n % self.batch_size == 1:
            steps -= 1  # a last batch of one sample breaks batch norm; skip that sample this epoch
        self.steps_per_epoch = steps

        self.collectors = {}
        if config.stats_every:
            self.collectors = {
                name: BlockStatsCollector(name, model, self.compiled.networks[name].module_names)
                for name, model in self.models.items()}
        self.updaters: dict[str, Updater] = {}
        for group_name, group in recipe.optimizer_groups().items():
            optimizer = make_optimizer(group.params, config, group.lr)
            self.updaters[group_name] = Updater(
                optimizer, make_scheduler(optimizer, config, steps), self.precision.new_scaler(),
                config.grad_clip, self.collectors.get(group.network))
        recipe.updaters = self.updaters
        self.shuffle = torch.Generator().manual_seed(project.seed)
        self.epoch_shuffle_state = self.shuffle.get_state()
        self.epoch_open = False  # an epoch's order is drawn and it has not ended
        self.resume_shuffle: torch.Tensor | None = None

        if config.early_stopping and not (recipe.has_validation and recipe.val_data is not None):
            warnings.append("early stopping needs a validation split (val_fraction above 0); it is off")
        if config.compile and self.collectors:
            warnings.append("activation statistics are off while the model is compiled (torch.compile)")

        self.folder = RunFolder(self.options.run_dir, resume=self.options.resume)
        if self.options.resume:
            restore_state(self, load_checkpoint(self.folder.file(LAST)), warnings)
        else:
            from graph.project_io import dumps_project

            self.folder.write_snapshot(dumps_project(project))  # with the settings actually used
            self.folder.write_model_code(self.compiled.source)
        self.folder.open_metrics(keep_until_step=self.step if self.options.resume else None)
        self.emit(ev.Started(
            run_dir=str(self.folder.path), project=project.name, recipe=config.recipe,
            device=f"{self.device} ({self.precision.describe()})", epochs=config.epochs,
            steps_per_epoch=steps, batch_size=self.batch_size, train_samples=n,
            val_samples=len(recipe.val_data) if recipe.val_data is not None else 0,
            parameters={name: sum(p.numel() for p in m.parameters() if p.requires_grad)
                        for name, m in self.models.items()},
            start_epoch=self.epoch, start_step=self.step, config=dict(config.values),
            block_names={net.name: {bid: b.name for bid, b in net.blocks.items()}
                         for net in project.networks}))
        for message in warnings:
            self.emit(ev.RunWarning(message))

    def _pick_monitor(self) -> str:
        recipe, wanted = self.recipe, self.config.monitor
        if not recipe.has_validation:
            return recipe.monitor
        if wanted == "accuracy" and recipe.monitor != "accuracy":
            return "loss"  # only classifiers have an accuracy
        return recipe.monitor if wanted == "auto" else wanted

    def _train_mode(self) -> None:
        for name, model in self.models.items():
            model.train()
            for attr in self.frozen.get(name, []):
                getattr(model, attr).eval()  # frozen blocks keep their batch-norm statistics too

    # --- the loop ----------------------------------------------------------------------------------
    def _train(self) -> str:
        config, recipe, stop = self.config, self.recipe, self.stop
        data = recipe.train_data
        n, batch_size, steps = len(data), self.batch_size, self.steps_per_epoch
        log_every, stats_every = config.log_every, config.stats_every if self.collectors else 0
        augment = config.augment and self.dataset.input_kind == "image"
        if augment:
            from runtime.data import augment_batch
        deadline = perf_counter() + self.options.max_seconds if self.options.max_seconds else None
        self.session_start = (perf_counter(), self.step)
        pending = self.pending
        for epoch in range(self.epoch + 1, config.epochs + 1):
            self._train_mode()
            if self.resume_shuffle is not None:  # resuming: the order the stopped run drew (or would draw)
                self.shuffle.set_state(self.resume_shuffle)
                self.resume_shuffle = None
            self.epoch_shuffle_state = self.shuffle.get_state()
            order = torch.randperm(n, generator=self.shuffle).to(data.index_device())
            self.epoch_open = True
            self.window_start = (perf_counter(), self.samples_seen)
            started = perf_counter()
            for batch in range(self.batch_in_epoch, steps):
                if stop.requested or (deadline is not None and perf_counter() > deadline):
                    self.train_seconds += perf_counter() - started
                    self.batch_in_epoch = batch
                    self._save_last()
                    return stop.reason if stop.requested else "time_limit"
                x, y = data.take(order[batch * batch_size:(batch + 1) * batch_size])
                if augment:
                    x = augment_batch(x)
                if stats_every and (self.step + 1) % stats_every == 0:
                    values = self._stats_step(x, y)
                else:
                    values = recipe.train_step(x, y)
                pending.append(values)
                self.samples_seen += len(x)
                self.step += 1
                if self.step % log_every == 0:
                    self._flush(epoch)
            self._flush(epoch)
            seconds = perf_counter() - started
            self.train_seconds += seconds
            self.batch_in_epoch = 0
            self.epoch = epoch
            self.epoch_open = False
            if self._end_epoch(epoch, seconds):
                return "early_stopped"
        return "completed"

    def _stats_step(self, x, y):
        for updater in self.updaters.values():
            updater.capture = True
        with ExitStack() as hooks:
            if not self.config.compile:
                for collector in self.collectors.values():
                    hooks.enter_context(collector.watch_activations())
            values = self.recipe.train_step(x, y)
        for updater in self.updaters.values():
            updater.capture = False
        for collector in self.collectors.values():
            event = collector.event(self.step + 1)
            if event is not None:
                self.emit(event)
        return values

    def _flush(self, epoch: int) -> None:
        """Read back the losses since the last flush: NaN check, step event, metrics line."""
        rows = self.carried
        if self.pending:
            rows = rows + [v if isinstance(v, list) else [v] for v in torch.stack(self.pending).tolist()]
        self.pending.clear()
        self.carried = []
        if not rows:
            return
        names = self.recipe.step_names
        for i, row in enumerate(rows):
            if not all(math.isfinite(v) for v in row):
                raise non_finite_failure(self, row, self.step - len(rows) + i + 1, epoch)
        means = [sum(column) / len(rows) for column in zip(*rows)]
        if not self.epoch_sums:
            self.epoch_sums = [0.0] * len(names)
        self.epoch_sums = [total + mean * len(rows) for total, mean in zip(self.epoch_sums, means)]
        self.epoch_count += len(rows)
        now, seen = perf_counter(), self.samples_seen
        speed = (seen - self.window_start[1]) / max(now - self.window_start[0], 1e-9)
        self.window_start = (now, seen)
        session_time, session_step = now - self.session_start[0], self.step - self.session_start[1]
        steps_left = self.config.epochs * self.steps_per_epoch - self.step
        eta = session_time / max(session_step, 1) * max(steps_left, 0)  # wall time: includes validation
        values = dict(zip(names, means)) if len(names) > 1 else {}
        lr = next(iter(self.updaters.values())).lr
        self.emit(ev.Step(epoch=epoch, step=self.step, loss=means[0], lr=lr, samples_per_second=speed,
                          eta_seconds=eta, values=values))
        self.folder.log({"type": "step", "epoch": epoch, "step": self.step, "loss": means[0], "lr": lr,
                         **values, "samples_per_second": speed})

    def _end_epoch(self, epoch: int, seconds: float) -> bool:
        """Metrics, validation, samples and checkpoints after an epoch; True to stop early."""
        recipe, names = self.recipe, self.recipe.step_names
        train = {name: total / max(self.epoch_count, 1) for name, total in zip(names, self.epoch_sums)}
        self.epoch_sums, self.epoch_count = [], 0
        self.last_train = train
        lr = next(iter(self.updaters.values())).lr
        speed = self.steps_per_epoch * self.batch_size / max(seconds, 1e-9)
        self.emit(ev.Epoch(epoch=epoch, step=self.step, metrics=train, lr=lr, seconds=seconds,
                           samples_per_second=speed))
        self.folder.log({"type": "epoch", "epoch": epoch, "step": self.step, **train, "lr": lr,
                         "seconds": seconds})
        improved = self._validate(epoch, train)
        for sample in recipe.samples(epoch):
            path = self.folder.save_sample(sample.filename, sample.png, sample.text)
            self.emit(ev.Samples(epoch=epoch, step=self.step, title=sample.title, png=sample.png,
                                 text=sample.text, path=str(path)))
        if improved:
            self._save(BEST, None)
        self._save_last()
        patience = self.config.early_stopping
        return bool(patience and self.last_val and self.bad_epochs >= patience)

    def _validate(self, epoch: int, train: dict[str, float]) -> bool:
        recipe = self.recipe
        if recipe.has_validation and recipe.val_data is not None:
            result = recipe.evaluate(recipe.val_data)
            metrics, confusion = result.metrics, result.confusion
        else:
            metrics, confusion = {}, None
        if metrics:
            value, higher_is_better = metrics.get(self.monitor), self.monitor == "accuracy"
        elif recipe.has_validation:  # no validation split: the training loss is all there is
            value, higher_is_better = train.get(recipe.step_names[0]), False
        else:
            value, higher_is_better = None, False
        if not recipe.has_validation:
            improved = True  # nothing to judge by (a GAN's losses say little): the newest is the best
        elif value is None or not math.isfinite(value):
            improved = False
        else:
            improved = self.best_metric is None or (
                value > self.best_metric if higher_is_better else value < self.best_metric)
        if improved:
            self.best_metric, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        if metrics:
            self.last_val = metrics
            self.emit(ev.Validation(epoch=epoch, step=self.step, metrics=metrics, monitor=self.monitor,
                                    best=improved, confusion=confusion, class_names=recipe.class_names))
            self.folder.log({"type": "validation", "epoch": epoch, "step": self.step, **metrics,
                             "best": improved})
        return improved

    # --- checkpoints ---------------------------------------------------------------------------------
    def _block_modules(self) -> dict[str, dict[str, str]]:
        return {name: dict(info.module_names) for name, info in self.compiled.networks.items()}

    def _save(self, which: str, resume: dict | None) -> None:
        state = make_checkpoint(self.models, self._block_modules(), self.epoch, self.step, self.last_val,
                                resume)
        path = self.folder.save_checkpoint(state, which)
        self.emit(ev.Checkpoint(epoch=self.epoch, step=self.step, path=str(path), which=which[:-3]))

    def _save_last(self) -> None:
        self._save(LAST, resume_state(self))

    def _test_metrics(self) -> dict[str, float]:
        """Metrics on the test split with the best weights, when there is a test split."""
        recipe = self.recipe
        if recipe.test_data is None or not recipe.has_validation:
            return {}
        best = self.folder.file(BEST)
        if best.is_file():
            load_models(self.models, load_checkpoint(best), str(best))
        return recipe.evaluate(recipe.test_data).metrics
