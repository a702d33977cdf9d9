"""The one reader of weight files: every command that opens a .pt/.pth/.safetensors goes through here.

Backbone `pretrained_weights`, `init_checkpoint` / `train --init`, `train
--resume`, `evaluate`, `sample`, `preview --weights`, `export --weights` and
`import --weights` all read with these functions, so a damaged or hostile
file gives the same kind of answer everywhere: a `WeightsFileError` whose
text is "<path>: <what is wrong>", which every command prints and turns into
exit code 2.

What is checked, in order:
- the path names a regular file (not missing, a folder, a FIFO or a device),
  not empty and not larger than `DEEPWIRE_MAX_WEIGHTS_BYTES` (default 64 GiB);
- it loads with `torch.load(weights_only=True)` (or as safetensors), so a
  pickle that would run code is refused, never executed;
- its structure is what the caller needs: `check_state_dict` (str names ->
  tensors), `read_checkpoint` (DeepWire's checkpoint layout);
- `fit_state` compares names, shapes and dtype kinds with the model before
  `load_state_dict`, naming the first key that differs and both shapes.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from runtime.errors import SetupError

MAX_BYTES_ENV = "DEEPWIRE_MAX_WEIGHTS_BYTES"
DEFAULT_MAX_BYTES = 64 * 2**30
CHECKPOINT_FORMAT = "deepwire-checkpoint"


class WeightsFileError(SetupError):
    """A weights file that cannot be used; str() is "<path>: <reason>"."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def max_bytes() -> int:
    try:
        return int(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def check_regular_file(path: Path, what: str) -> int:
    """The size of `path` if it is a regular, non-empty file under the cap; WeightsFileError otherwise."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise WeightsFileError(path, f"no such {what}") from None
    except OSError as err:  # name too long, permission denied, a loop of links
        raise WeightsFileError(path, f"cannot open this {what} ({err.strerror or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise WeightsFileError(path, f"is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise WeightsFileError(path, f"is not a regular file (a pipe, device or socket); give a {what}")
    if info.st_size == 0:
        raise WeightsFileError(path, f"is empty (0 bytes); it is no {what}")
    limit = max_bytes()
    if info.st_size > limit:
        raise WeightsFileError(
            path,
            f"is {_size(info.st_size)}, more than the {_size(limit)} a {what} may be "
            f"(set {MAX_BYTES_ENV} to raise the limit)",
        )
    return info.st_size


def read_file(path: str | Path, what: str = "weights file") -> Any:
    """What the file holds, loaded without ever unpickling code (weights_only=True, or safetensors)."""
    path = Path(path)
    check_regular_file(path, what)
    kind = "checkpoint" if what == "checkpoint" else "file"
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the error says it all
            warnings.simplefilter("ignore")
            if path.suffix == ".safetensors":
                return dict(_safetensors_load(path))
            return torch.load(path, map_location="cpu", weights_only=True)
    except WeightsFileError:
        raise
    except MemoryError:
        raise WeightsFileError(path, f"too large to load into this machine's memory as a {what}") from None
    except Exception as err:  # noqa: BLE001 - sorted below; torch raises many kinds
        raise _unreadable(path, kind, err) from None


def _unreadable(path: Path, kind: str, err: Exception) -> WeightsFileError:
    """The reason a file would not load: a refused pickle (random bytes look like one too), or damage."""
    if type(err).__name__ == "UnpicklingError":  # a pickle asking for code is refused here, never run
        return WeightsFileError(
            path,
            f"cannot be read as a weights-only {kind}: it is damaged, or holds Python "
            f"objects other than tensors and numbers ({_unpickler_detail(err)}), "
            "and DeepWire never unpickles code; save weights with "
            "torch.save(model.state_dict(), path)",
        )
    # zip errors, truncation, bad safetensors headers
    return WeightsFileError(
        path,
        f"cannot be read as a weights-only {kind}: it is damaged or not a PyTorch "
        f"file ({_first_line(err)}); save weights with "
        "torch.save(model.state_dict(), path)",
    )


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:200]


def _unpickler_detail(err: BaseException) -> str:
    """'Unsupported global: posix.system' out of torch's long weights-only message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error" in line:
            rest = line.split("WeightsUnpickler error:", 1)[1].strip() or (
                lines[i + 1] if i + 1 < len(lines) else ""
            )
            return rest[:200] or "refused by the weights-only reader"
    return _first_line(err)


def _safetensors_load(path: Path):
    try:
        import safetensors.torch as st
    except ImportError:
        raise WeightsFileError(
            path, "reading .safetensors files needs the safetensors package: pip install safetensors"
        ) from None
    return st.load_file(str(path))


def check_state_dict(state: Any, path: str | Path, where: str = "") -> dict[str, torch.Tensor]:
    """`state` as a dict of str -> tensor, or WeightsFileError naming the first entry that is not."""
    at = f" ({where})" if where else ""
    if not isinstance(state, Mapping):
        raise WeightsFileError(path, f"expected a state_dict (names -> tensors){at}, found {_kind(state)}")
    if not state:
        raise WeightsFileError(path, f"holds an empty state_dict{at}: there are no weights in it")
    for key, value in state.items():
        if not isinstance(key, str):
            raise WeightsFileError(path, f"a state_dict's names must be text{at}; found the name {key!r:.60}")
        if not isinstance(value, torch.Tensor):
            raise WeightsFileError(path, f"'{key}'{at} is {_kind(value)}, not a tensor")
    return dict(state)


def read_state_dict(path: str | Path, what: str = "weights file") -> dict[str, torch.Tensor]:
    """A plain state_dict file (names -> tensors)."""
    return check_state_dict(read_file(path, what), path)


def check_checkpoint(state: Any, path: str | Path) -> dict[str, Any]:
    """A DeepWire checkpoint's layout (see runtime/train/checkpoint.py), every part checked."""
    if not isinstance(state, Mapping) or "models" not in state:
        raise WeightsFileError(
            path,
            "not a DeepWire checkpoint (no 'models' entry); use best.pt or "
            "last.pt from a DeepWire run folder",
        )
    models = state["models"]
    if not isinstance(models, Mapping) or not models:
        raise WeightsFileError(
            path, f"its 'models' entry should map network names to state_dicts, found {_kind(models)}"
        )
    for name, sd in models.items():
        if not isinstance(name, str):
            raise WeightsFileError(
                path, f"its 'models' entry has a network name that is not text: {name!r:.60}"
            )
        check_state_dict(sd, path, f"network '{name}'")
    modules = state.get("block_modules", {})
    if not isinstance(modules, Mapping) or not all(
        isinstance(net, str)
        and isinstance(table, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())
        for net, table in modules.items()
    ):
        raise WeightsFileError(
            path, "its 'block_modules' entry is damaged (expected network -> {block id: submodule name})"
        )
    for key in ("epoch", "step"):
        if key in state and (isinstance(state[key], bool) or not isinstance(state[key], int)):
            raise WeightsFileError(
                path, f"its '{key}' entry should be a whole number, found {_kind(state[key])}"
            )
    if "metrics" in state and not isinstance(state["metrics"], Mapping):
        raise WeightsFileError(path, f"its 'metrics' entry should be a dict, found {_kind(state['metrics'])}")
    if "resume" in state and not isinstance(state["resume"], Mapping):
        raise WeightsFileError(
            path, f"its training state ('resume') should be a dict, found {_kind(state['resume'])}"
        )
    return dict(state)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A DeepWire checkpoint (best.pt / last.pt of a run), structure checked."""
    return check_checkpoint(read_file(path, "checkpoint"), path)


def fit_state(
    model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path, network: str = ""
) -> None:
    """load_state_dict(strict) after checking names, shapes and dtype kinds, each mismatch named."""
    of = f" of network '{network}'" if network else ""
    hint = " (was the network changed since these weights were saved?)"
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unexpected:
            parts.append(f"not in the model: {_names(unexpected)}")
        raise WeightsFileError(path, f"the weights do not fit the model{of}: {'; '.join(parts)}{hint}")
    for key, want in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise WeightsFileError(
                path, f"'{key}'{of} has shape {_shape(got)} in the file but {_shape(want)} in the model{hint}"
            )
        if dtype_kind(got) != dtype_kind(want):
            raise WeightsFileError(
                path,
                f"'{key}'{of} holds {str(got.dtype).replace('torch.', '')} values "
                f"but the model needs {str(want.dtype).replace('torch.', '')}",
            )
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as err:  # anything the checks above did not foresee
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise WeightsFileError(path, f"the weights do not fit the model{of}: {first}") from None


def dtype_kind(t: torch.Tensor) -> str:
    if t.dtype == torch.bool:
        return "bool"
    if t.is_complex():
        return "complex"
    return "float" if t.is_floating_point() else "int"


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {_shape(value)}"
    if isinstance(value, Mapping):
        return "a dict"
    return f"a {type(value).__name__}"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"
