"""The trainer: one loop for every recipe, with events, checkpoints, faults and resume.

    trainer = Trainer(project, registry, dataset, TrainOptions(run_dir=Path("runs/x")), [listener])
    summary = trainer.run()      # raises SetupError (bad project/data) or TrainingError

The hot loop is kept as lean as a hand-written one: data sits on the device
once and batches are slices of a shuffled permutation (streamed data: the
same batches, read ahead by DataLoader workers, runtime/train/loader.py); the step's loss stays
a tensor (no `.item()`), and losses are read back together every
`log_every` steps, which is also when a NaN loss is noticed and the step
event goes out. Statistics hooks exist only on `stats_every` steps.

Resuming restores weights, optimizer and schedule state, every random
generator and the loop position (even mid-epoch, after Stop), so a resumed
run produces the same numbers as one that never stopped.

Started by torchrun, the same loop runs in every process (see
runtime/train/distributed.py): networks wrapped in DistributedDataParallel,
each process training on its shard of every global batch, logged losses
averaged over the processes, and only rank 0 writing files and events. On
CUDA, convolutional networks use channels-last memory, and a network whose
`torch.compile` fails trains uncompiled after a warning (runtime/train/accelerate.py).
Before the first step the memory a process needs is estimated
(runtime/train/memory.py).
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
from runtime.train import distributed as dist
from runtime.train import events as ev
from runtime.train import memory
from runtime.train.accelerate import CompiledOrEager, wants_channels_last
from runtime.train.checkpoint import load_checkpoint, load_models, make_checkpoint
from runtime.train.data import compile_for_training
from runtime.train.device import DeviceSplit, Precision, pick_device
from runtime.train.errors import SetupError, TrainingError
from runtime.train.faults import describe_failure, non_finite_failure
from runtime.train.metrics import HIGHER_IS_BETTER
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
    cluster: dist.Cluster | None = None  # this process's place under torchrun (default: one process)
    compile_fn: object = None  # replaces torch.compile (tests of the fallback)
    workers: int | None = None  # DataLoader workers for streamed data (None: automatic, see loader.py)


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
        self.cluster = options.cluster or dist.Cluster()
        self.memory_estimate: dict[str, int] = {}
        self.joined = False  # whether this trainer created the process group (and so ends it)
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
        if not self.cluster.is_main:
            return  # rank 0 speaks for all processes
        for listener in self.listeners:
            listener.on_event(event)

    # --- the whole run ----------------------------------------------------------------------------
    def run(self) -> dict:
        wall_start = perf_counter()
        guard = stop_on_signals(self.stop) if self.options.handle_signals else nullcontext()
        try:
            with guard:
                return self._run(wall_start)
        finally:
            self._close_data()  # a streamed split's DataLoader workers
            if self.joined:
                dist.leave(self.cluster)

    def _run(self, wall_start: float) -> dict:
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
            run_dir=str(self.options.run_dir),
            peak_memory_bytes=memory.peak_bytes(self.device) if hasattr(self, "device") else None)

    # --- set-up ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        config, project = self.config, self.project
        cluster = self.cluster
        self.device = dist.process_device(cluster, pick_device(config.device))
        self.joined = dist.join(cluster, self.device)
        self.precision = Precision(self.device, config.mixed_precision)
        self.compiled = compile_for_training(project, self.registry)
        from runtime.data.registry import augment_problem

        refused = augment_problem(self.dataset.name, config.augment)  # image flips and shifts on sounds
        if refused:
            raise SetupError(refused)
        torch.manual_seed(project.seed)  # same seed, same initial weights (in every process)
        models, _ = build_models(project, self.registry, self.compiled)  # SetupError: a bad weights file
        self.models = {name: model.to(self.device) for name, model in models.items()}
        self.channels_last = [name for name, model in self.models.items()
                              if wants_channels_last(self.device.type, model)]
        for name in self.channels_last:
            self.models[name] = self.models[name].to(memory_format=torch.channels_last)
        from runtime.train.transfer import apply_transfer

        base_dirs = [Path.cwd()]  # a relative init_checkpoint is looked up here, then beside the project
        if self.options.project_path:
            base_dirs.append(Path(self.options.project_path).parent)
        self.transfer = apply_transfer(project, self.models, self.compiled, base_dirs)
        self.frozen = self.transfer.frozen
        warnings: list[str] = []
        forward_models = dict(self.models)
        if cluster.distributed:
            torch.manual_seed(dist.seed_for(project.seed, cluster))  # own dropout and noise per process
            forward_models = {name: dist.wrap(model, self.device) for name, model in forward_models.items()}
        if config.compile:
            compile_fn = self.options.compile_fn or torch.compile
            forward_models = {
                name: CompiledOrEager(model, name, lambda text: self.emit(ev.RunWarning(text)), compile_fn)
                for name, model in forward_models.items()}
        setup = RecipeSetup(project, self.compiled, forward_models, self.dataset, config, self.device,
                            self.precision, warnings, self.options.workers)
        self.recipe = recipe = make_recipe(setup)
        self.skipped_reported: dict[int, int] = {}
        for split in self._splits():
            split.seed, split.rank = project.seed, cluster.rank  # a streamed split seeds its workers
        for message in self.dataset.extra.get("warnings", []):  # e.g. files the source skipped
            warnings.append(message)
        self.monitor = self._pick_monitor()

        n = len(recipe.train_data)
        world = cluster.world_size
        if n < 2 * world and world > 1:
            raise SetupError(f"the training split has {n} samples, too few to give each of the {world} "
                             "processes two; use fewer processes or more data")
        # batch size is per process; a step's global batch is batch size x processes
        self.batch_size = min(config.batch_size, max(1, n // world))
        self.global_batch = self.batch_size * world
        steps = dist.steps_per_epoch(n, self.global_batch, world)
        self.steps_per_epoch = steps

        self.collectors = {}
        if config.stats_every:
            self.collectors = {
                name: BlockStatsCollector(name, model, self.compiled.networks[name].module_names)
                for name, model in self.models.items()}
        self.updaters: dict[str, Updater] = {}
        for group_name, group in recipe.optimizer_groups().items():
            optimizer = make_optimizer(group.params, config, group.lr, self.transfer.pretrained_params(
                group.network, self.models[group.network]))
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

        self.memory_estimate = self._estimate_memory(warnings)
        memory.reset_peak(self.device)  # the peak counts training, not the estimate's trial batches
        if cluster.is_main:
            self.folder = RunFolder(self.options.run_dir, resume=self.options.resume)
        else:
            self.folder = dist.quiet_folder(self.options.run_dir, self.options.resume)
        if self.options.resume:
            restore_state(self, load_checkpoint(self.folder.file(LAST)), warnings)
        else:
            from graph.project_io import dumps_project

            self.folder.write_snapshot(dumps_project(project))  # with the settings actually used
            self.folder.write_model_code(self._model_code())
        self.folder.open_metrics(keep_until_step=self.step if self.options.resume else None)
        self.emit(ev.Started(
            run_dir=str(self.folder.path), project=project.name, recipe=config.recipe,
            device=self._describe_device(), epochs=config.epochs,
            steps_per_epoch=steps, batch_size=self.global_batch, train_samples=n,
            val_samples=len(recipe.val_data) if recipe.val_data is not None else 0,
            parameters={name: sum(p.numel() for p in m.parameters() if p.requires_grad)
                        for name, m in self.models.items()},
            start_epoch=self.epoch, start_step=self.step, config=dict(config.values),
            block_names={net.name: {bid: b.name for bid, b in net.blocks.items()}
                         for net in project.networks},
            processes=world, memory_estimate=self.memory_estimate))
        transfer = self.transfer.describe()
        if transfer:
            warnings.append(f"transfer learning: {transfer}")
        if self.transfer.random_frozen:
            warnings.append(f"the frozen block(s) {', '.join(self.transfer.random_frozen)} start from random "
                            "weights (no init_checkpoint gives them any), so they will never learn; set "
                            "init_checkpoint or unfreeze them")
        for message in warnings:
            self.emit(ev.RunWarning(message))

    def _describe_device(self) -> str:
        text = f"{self.device} ({self.precision.describe()}"
        if self.channels_last:
            text += ", channels_last"
        if self.config.compile:
            text += ", compiled"
        text += ")"
        if self.cluster.distributed:
            text += f" x {self.cluster.world_size} processes"
        return text

    def _estimate_memory(self, warnings: list[str]) -> dict[str, int]:
        """Bytes training will take on this process's device (see runtime/train/memory.py)."""
        data = self.recipe.train_data
        sample = data.inputs[:4] if data is not None else None
        activations, transient = {}, 0
        try:
            for name, model in self.models.items():
                info = self.compiled.networks[name]
                reads_data = sample is not None and tuple(sample.shape[1:]) == tuple(info.input_shapes[0]) \
                    and len(info.input_shapes) == 1
                size, passing = memory.activation_profile(
                    model, info.input_types, info.input_shapes, self.batch_size, self.device,
                    self.precision.autocast, sample if reads_data else None)
                # a GAN's discriminator runs on the real and on the fake batch before one backward
                activations[name] = size * (2 if self.config.recipe == "gan" and reads_data else 1)
                transient = max(transient, passing)  # one backward at a time
        except Exception as exc:  # noqa: BLE001 - the estimate must never stop a run
            warnings.append(f"the memory estimate failed ({exc}); training goes on without it")
            return {}
        on_device = data is not None and not data.staged and self.device.type != "cpu"
        data_bytes = memory.tensor_bytes(t for t in (data.inputs, data.targets) if t is not None) \
            if on_device else 0
        return memory.estimate(self.models, activations, self.config.optimizer, self.config.momentum,
                               data_bytes, gradient_copies=2 if self.cluster.distributed else 1,
                               transient=transient)

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
                # eval mode: a frozen block's batch norm keeps (and uses) the running statistics that
                # belong to its pretrained weights (new data would otherwise shift what the fixed
                # weights compute), and its dropout is off, as for any fixed feature extractor
                model.get_submodule(attr).eval()

    # --- the loop ----------------------------------------------------------------------------------
    def _train(self) -> str:
        config, recipe, stop = self.config, self.recipe, self.stop
        data = recipe.train_data
        n, global_batch, steps = len(data), self.global_batch, self.steps_per_epoch
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
            # the epoch's batches from the resumed one on, this process's shard of each: sliced from
            # tensors in memory, or read ahead by DataLoader workers for streamed data (the same batches)
            feed = self._feed(data, order, range(self.batch_in_epoch, steps), epoch)
            for batch in range(self.batch_in_epoch, steps):
                if self._should_stop(deadline):
                    self.train_seconds += perf_counter() - started
                    self.batch_in_epoch = batch
                    self._save_last()
                    return stop.reason if stop.requested else "time_limit"
                index = order[batch * global_batch:(batch + 1) * global_batch]
                x, y = next(feed)
                if augment:
                    x = augment_batch(x)
                if stats_every and (self.step + 1) % stats_every == 0:
                    values = self._stats_step(x, y)
                else:
                    values = recipe.train_step(x, y)
                pending.append(values)
                self.samples_seen += len(index)
                self.step += 1
                if self.step % log_every == 0:
                    self._flush(epoch)
            self._flush(epoch)
            self._report_skipped()
            seconds = perf_counter() - started
            self.train_seconds += seconds
            self.batch_in_epoch = 0
            self.epoch = epoch
            self.epoch_open = False
            if self._end_epoch(epoch, seconds):
                return "early_stopped"
        return "completed"

    def _feed(self, data, order: torch.Tensor, batches: range, epoch: int):
        cluster = self.cluster
        shard = lambda index: dist.shard(index, cluster)  # noqa: E731 - the shard rule, passed on
        if isinstance(data, DeviceSplit):
            return data.feed(order, batches, self.global_batch, shard)
        return data.feed(order, batches, self.global_batch, shard, epoch)

    def _splits(self) -> list:
        recipe = self.recipe
        return [s for s in (recipe.train_data, recipe.val_data, recipe.test_data) if s is not None]

    def _report_skipped(self) -> None:
        """Files a streamed split could not decode, once each: a count and the first names."""
        for split in self._splits():
            new = split.skipped[self.skipped_reported.get(id(split), 0):] if hasattr(split, "skipped") else []
            if new:
                self.skipped_reported[id(split)] = len(split.skipped)
                names = ", ".join(new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
                self.emit(ev.RunWarning(f"skipped {len(new)} file(s) that could not be read as images "
                                        f"(corrupt, unreadable or too large): {names}; training goes on "
                                        "without them"))

    def _close_data(self) -> None:
        for split in self._splits() if hasattr(self, "recipe") else []:
            split.close()

    def _should_stop(self, deadline: float | None) -> bool:
        wanted = self.stop.requested or (deadline is not None and perf_counter() > deadline)
        if not self.cluster.distributed:
            return wanted
        if self.step % self.config.log_every:
            return False  # processes agree only every log_every steps: agreeing costs a round trip
        return dist.any_process(wanted, self.cluster, self.device)

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
            stacked = dist.mean_over_processes(torch.stack(self.pending), self.cluster)  # global losses
            rows = rows + [v if isinstance(v, list) else [v] for v in stacked.tolist()]
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
                          eta_seconds=eta, values=values, memory_bytes=memory.current_bytes(self.device)))
        self.folder.log({"type": "step", "epoch": epoch, "step": self.step, "loss": means[0], "lr": lr,
                         **values, "samples_per_second": speed})

    def _end_epoch(self, epoch: int, seconds: float) -> bool:
        """Metrics, validation, samples and checkpoints after an epoch; True to stop early."""
        recipe, names = self.recipe, self.recipe.step_names
        train = {name: total / max(self.epoch_count, 1) for name, total in zip(names, self.epoch_sums)}
        self.epoch_sums, self.epoch_count = [], 0
        self.last_train = train
        lr = next(iter(self.updaters.values())).lr
        speed = self.steps_per_epoch * self.global_batch / max(seconds, 1e-9)
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
            value = metrics.get(self.monitor)
            higher_is_better = self.monitor in HIGHER_IS_BETTER or (
                self.monitor == recipe.monitor and getattr(recipe, "higher_is_better", False))
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

    def _model_code(self) -> str:
        """The run's model.py: the classes, plus how to feed them the data they are trained on."""
        from runtime.preprocessing import Preprocessing, with_preprocessing

        record = self._preprocessing()
        if record is None:
            return self.compiled.source
        prep = Preprocessing.from_dict(record)
        return with_preprocessing(self.compiled.source, prep, self.compiled.network(prep.network))

    def _preprocessing(self) -> dict | None:
        """How the data was prepared for the network (None if it cannot be recorded, e.g. NaN statistics)."""
        from runtime.preprocessing import Preprocessing, PreprocessingError
        from runtime.train.data import data_network

        network = data_network(self.project, self.compiled).network
        try:
            return Preprocessing.from_dataset(self.dataset, network, self.config.recipe).to_dict()
        except PreprocessingError:
            return None

    def _save(self, which: str, resume: dict | None) -> None:
        if not self.cluster.is_main:
            return  # rank 0 saves; the weights are the same in every process
        state = make_checkpoint(self.models, self._block_modules(), self.epoch, self.step, self.last_val,
                                resume, self._preprocessing())
        path = self.folder.save_checkpoint(state, which)
        self.emit(ev.Checkpoint(epoch=self.epoch, step=self.step, path=str(path), which=which[:-3]))

    def _save_last(self) -> None:
        if not self.cluster.is_main:
            return
        self._save(LAST, resume_state(self))

    def _test_metrics(self) -> dict[str, float]:
        """Metrics on the test split with the best weights, when there is a test split."""
        recipe = self.recipe
        if recipe.test_data is None or not recipe.has_validation:
            return {}
        best = self.folder.file(BEST)
        found = self.cluster.is_main and best.is_file()  # rank 0 wrote it; the others get its weights
        if dist.any_process(found, self.cluster, self.device):
            if found:
                load_models(self.models, load_checkpoint(best), str(best))
            dist.broadcast_weights(self.models, self.cluster)
        return recipe.evaluate(recipe.test_data).metrics
