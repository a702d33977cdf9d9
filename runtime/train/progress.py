"""The terminal view of a run: a progress bar with loss and ETA, one line per epoch.

A plain event listener writing to stderr (stdout stays free for
`--events jsonl`). On a terminal the bar redraws in place at most ten times
a second; in a log file or pipe only the per-epoch lines appear.
"""

from __future__ import annotations

import sys
from time import monotonic

from runtime.train import events as ev

BAR_WIDTH = 24
# reasons a run ends that --resume continues, and how the last line says them
RESUMABLE = {"stopped": "stopped", "time_limit": "reached the time limit"}


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_metric(name: str, value: float | None) -> str:
    if value is None:
        return f"{name} -"
    if "accuracy" in name:
        return f"{name} {value * 100:.2f}%"
    return f"{name} {value:.4g}"


class ProgressBar:
    def __init__(self, stream=None, interactive: bool | None = None):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.epochs = 0
        self.steps_per_epoch = 0
        self.total_steps = 1
        self.last_draw = 0.0
        self.bar_shown = False
        self.epoch_line: str | None = None

    def _write(self, text: str) -> None:
        if self.bar_shown:
            text = "\r\x1b[2K" + text  # clear the bar before a normal line
            self.bar_shown = False
        self.stream.write(text)
        self.stream.flush()

    def on_event(self, event: ev.Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def _on_started(self, e: ev.Started) -> None:
        self.epochs = e.epochs
        self.steps_per_epoch = e.steps_per_epoch
        self.total_steps = max(1, e.epochs * e.steps_per_epoch)
        resumed = f", resuming after epoch {e.start_epoch}" if e.start_epoch or e.start_step else ""
        self._write(f"Training '{e.project}' ({e.recipe}) on {e.device}: {e.epochs} epochs x "
                    f"{e.steps_per_epoch} steps of {e.batch_size}, {e.train_samples} training / "
                    f"{e.val_samples} validation samples{resumed}\n  run folder: {e.run_dir}\n")
        if e.memory_estimate.get("total"):
            from runtime.train.memory import PARTS, format_bytes

            parts = ", ".join(f"{p} {format_bytes(e.memory_estimate[p])}" for p in PARTS
                              if e.memory_estimate.get(p))
            each = " per process" if e.processes > 1 else ""
            self._write(f"  memory estimate{each}: {format_bytes(e.memory_estimate['total'])} ({parts})\n")

    def _on_step(self, e: ev.Step) -> None:
        now = monotonic()
        if not self.interactive or now - self.last_draw < 0.1:
            return
        self.last_draw = now
        done = min(1.0, e.step / self.total_steps)
        filled = int(done * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r\x1b[2Kepoch {e.epoch}/{self.epochs} [{bar}] {done * 100:3.0f}%  "
                          f"loss {e.loss:.4g}  {e.samples_per_second:,.0f} samples/s  "
                          f"ETA {format_seconds(e.eta_seconds)}")
        self.stream.flush()
        self.bar_shown = True

    def _on_epoch(self, e: ev.Epoch) -> None:
        parts = [format_metric(k, v) for k, v in e.metrics.items()]
        self.epoch_line = f"epoch {e.epoch}/{self.epochs}  " + "  ".join(parts) + f"  ({e.seconds:.1f}s)"

    def _on_validation(self, e: ev.Validation) -> None:
        parts = [format_metric(f"val_{k}", v) for k, v in e.metrics.items()]
        best = "  *best*" if e.best else ""
        self._write(f"{self.epoch_line or f'epoch {e.epoch}'}  |  " + "  ".join(parts) + best + "\n")
        self.epoch_line = None

    def _on_samples(self, e: ev.Samples) -> None:
        if self.epoch_line is not None:  # no validation this epoch: the training line goes first
            self._write(self.epoch_line + "\n")
            self.epoch_line = None
        if e.text is not None:
            preview = e.text.replace("\n", " ")[:160]
            self._write(f"  sample: {preview}\n")
        elif e.path:
            self._write(f"  samples: {e.path}\n")

    def _on_checkpoint(self, e: ev.Checkpoint) -> None:
        if self.epoch_line is not None:
            self._write(self.epoch_line + "\n")
            self.epoch_line = None

    def _on_warning(self, e: ev.RunWarning) -> None:
        self._write(f"warning: {e.message}\n")

    def _on_error(self, e: ev.RunError) -> None:
        suggestion = f"\n  suggestion: {e.suggestion}" if e.suggestion else ""
        self._write(f"error: {e.message}{suggestion}\n")

    def _on_finished(self, e: ev.Finished) -> None:
        if e.reason == "failed":
            return  # the error line said it
        best = ""
        if e.best_epoch is not None and e.best_metric is not None:
            best = f"; best {format_metric(e.monitor, e.best_metric)} at epoch {e.best_epoch}"
        test = "  ".join(format_metric(f"test_{k}", v) for k, v in e.test_metrics.items())
        timing = f"{format_seconds(e.seconds)} ({e.samples_per_second:,.0f} samples/s){best}"
        if e.reason in RESUMABLE:
            # where it stopped, then the one command that continues it
            head = (f"{RESUMABLE[e.reason]} after {self._position(e)}; continue with --resume {e.run_dir}\n"
                    f"  {timing}\n")
        else:
            words = {"completed": "finished", "early_stopped": "stopped early (no improvement)"}
            head = f"{words.get(e.reason, e.reason)} after {plural(e.epochs, 'epoch')}, " \
                   f"{plural(e.steps, 'step')} in {timing}\n"
        self._write(head + (f"  {test}\n" if test else "") + self._peak(e) + f"  run folder: {e.run_dir}\n")

    def _position(self, e: ev.Finished) -> str:
        """ "1 epoch and 25 steps": the epochs done, then the steps into the next one."""
        into_next = e.steps - e.epochs * self.steps_per_epoch if self.steps_per_epoch else 0
        if into_next <= 0 or into_next >= self.steps_per_epoch:
            return plural(e.epochs, "epoch") if e.epochs or not e.steps else plural(e.steps, "step")
        if not e.epochs:
            return plural(into_next, "step")
        return f"{plural(e.epochs, 'epoch')} and {plural(into_next, 'step')}"

    @staticmethod
    def _peak(e: ev.Finished) -> str:
        if e.peak_memory_bytes is None:
            return ""
        from runtime.train.memory import format_bytes

        return f"  GPU memory peak: {format_bytes(e.peak_memory_bytes)}\n"
