"""Training events: what a run tells its listeners, as plain data.

Every event is a small dataclass with a `kind` and fields holding only
numbers, text, lists, dicts and bytes (PNG images), never tensors, so an
event can cross a process boundary: `event.to_json()` gives one line of
JSON and `event_from_json(line)` gives the event back. The studio runs
`deepwire train PROJECT --events jsonl` as a child process and reads these
lines from its stdout.

Kinds and their order in a run:
    started      once, before the first step (device, sizes, schedule)
    step         every `log_every` steps (mean training loss of those steps)
    block_stats  every `stats_every` steps (per-block gradient / activation statistics)
    epoch        after each epoch (training metrics of the epoch)
    validation   after each epoch with a validation split (metrics, confusion matrix)
    samples      after each epoch for generative recipes (PNG grid or text)
    checkpoint   whenever a checkpoint file is written
    warning      something worth knowing that does not stop the run
    error        the run failed (message + suggestion); a `finished` event follows
    finished     always last (reason: completed, early_stopped, stopped, time_limit, failed)

A listener is anything with `on_event(event)`; a plain function works too
(see `as_listener`).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol


class Listener(Protocol):
    def on_event(self, event: Event) -> None: ...


@dataclass
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bytes):
                data[f.name] = {"base64": base64.b64encode(value).decode("ascii")}
            else:
                data[f.name] = plain_json(value)
        return data

    def to_json(self) -> str:
        """One line of strict JSON (NaN and infinities become null)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


def plain_json(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    return value


@dataclass
class Started(Event):
    kind: ClassVar[str] = "started"
    run_dir: str
    project: str
    recipe: str
    device: str
    epochs: int
    steps_per_epoch: int
    batch_size: int
    train_samples: int
    val_samples: int
    parameters: dict[str, int]  # network name -> trainable parameter count
    start_epoch: int = 0  # epochs already done (resumed runs)
    start_step: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    block_names: dict[str, dict[str, str]] = field(default_factory=dict)  # network -> block id -> name
    processes: int = 1  # training processes (torchrun); batch_size is the global batch of all of them
    memory_estimate: dict[str, int] = field(default_factory=dict)  # bytes per part and "total" (memory.py)


@dataclass
class Step(Event):
    kind: ClassVar[str] = "step"
    epoch: int  # 1-based epoch in progress
    step: int  # optimizer steps done so far in the whole run
    loss: float  # mean training loss over the steps since the previous step event
    lr: float
    samples_per_second: float
    eta_seconds: float
    values: dict[str, float] = field(default_factory=dict)  # recipe extras, e.g. a GAN's d_loss
    memory_bytes: int | None = None  # device memory held by tensors now (CUDA), None where unmeasured


@dataclass
class BlockStats(Event):
    """Per-block statistics of one step, keyed by block id, for colouring the canvas."""

    kind: ClassVar[str] = "block_stats"
    step: int
    network: str
    grad_norm: dict[str, float]  # L2 norm of the block's parameter gradients
    weight_norm: dict[str, float]
    activation: dict[str, dict[str, float]]  # block id -> {"mean", "std", "zeros"} of its output


@dataclass
class Epoch(Event):
    kind: ClassVar[str] = "epoch"
    epoch: int
    step: int
    metrics: dict[str, float]  # training metrics of the epoch (loss, ...)
    lr: float
    seconds: float
    samples_per_second: float


@dataclass
class Validation(Event):
    kind: ClassVar[str] = "validation"
    epoch: int
    step: int
    metrics: dict[str, float]
    monitor: str  # the metric that decides "best"
    best: bool  # this epoch is the best so far
    confusion: list[list[int]] | None = None  # [true class][predicted class] counts
    class_names: list[str] | None = None


@dataclass
class Samples(Event):
    kind: ClassVar[str] = "samples"
    epoch: int
    step: int
    title: str
    png: bytes | None = None  # an image grid
    text: str | None = None  # sampled text
    path: str | None = None  # where the run folder keeps it


@dataclass
class Checkpoint(Event):
    kind: ClassVar[str] = "checkpoint"
    epoch: int
    step: int
    path: str
    which: str  # "last" or "best"


@dataclass
class RunWarning(Event):
    kind: ClassVar[str] = "warning"
    message: str


@dataclass
class RunError(Event):
    kind: ClassVar[str] = "error"
    message: str
    reason: str  # "nan", "out_of_memory", "data", "exception"
    suggestion: str = ""
    step: int | None = None
    epoch: int | None = None


@dataclass
class Finished(Event):
    kind: ClassVar[str] = "finished"
    reason: str  # completed, early_stopped, stopped, time_limit, failed
    epochs: int  # epochs fully done
    steps: int
    best_epoch: int | None
    best_metric: float | None
    monitor: str
    metrics: dict[str, float]  # final validation (or training) metrics
    test_metrics: dict[str, float]
    seconds: float
    samples_per_second: float
    run_dir: str
    peak_memory_bytes: int | None = None  # most device memory the run's tensors took (CUDA)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (Started, Step, BlockStats, Epoch, Validation, Samples, Checkpoint, RunWarning, RunError,
                Finished)
}


class EventFormatError(ValueError):
    """A line that is not a DeepWire training event."""


def event_from_dict(data: dict[str, Any]) -> Event:
    kind = data.get("kind")
    cls = EVENT_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise EventFormatError(f"unknown event kind {kind!r}; expected one of {', '.join(EVENT_TYPES)}")
    values = {}
    for f in fields(cls):
        if f.name in data:
            value = data[f.name]
            if isinstance(value, dict) and set(value) == {"base64"}:
                value = base64.b64decode(value["base64"])
            values[f.name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise EventFormatError(f"'{kind}' event with missing fields: {exc}") from None


def event_from_json(line: str) -> Event:
    """The event one line of `deepwire train --events jsonl` output describes."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventFormatError(f"not a JSON event line ({exc}): {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise EventFormatError(f"an event line must hold a JSON object; got {line[:80]!r}")
    return event_from_dict(data)


class _FunctionListener:
    def __init__(self, function: Callable[[Event], None]):
        self.function = function

    def on_event(self, event: Event) -> None:
        self.function(event)


def as_listener(listener: Listener | Callable[[Event], None]) -> Listener:
    """Accept an object with on_event or a plain function."""
    if hasattr(listener, "on_event"):
        return listener  # type: ignore[return-value]
    return _FunctionListener(listener)  # type: ignore[arg-type]


class Collector:
    """Keeps every event in a list (tests, notebooks)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]


class JsonLinesWriter:
    """Writes each event as one JSON line and flushes, so a parent process sees it at once."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def on_event(self, event: Event) -> None:
        try:
            self.stream.write(event.to_json() + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away; training carries on and still saves its run folder
