"""Finding the model to import: `module.py:ClassName`, `package.module:factory`, `torchvision:resnet18`.

Loading a .py file runs it, as importing any Python code does: that is what
the user asks for when importing their own module (and why the studio runs
imports in a child process). Project files are never executed.

Also reads what DeepWire's own exported code carries: each forward() starts
with a comment giving the input shapes (`# image: (B, 1, 8, 8)`), each
class docstring names its network (`Network 'generator' (11 blocks).`), and
`make_loss()` gives each output's loss, hence its head. So exported code
imports back without any flag.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from runtime.importing.fx_import import ModelImportError
from runtime.importing.fx_modules import HELPER_RULES

TORCHVISION_SHAPE = (3, 224, 224)
_SHAPES_COMMENT = re.compile(r"^\s*#\s*(\w+: \(B[^)]*\)(?:, \w+: \(B[^)]*\))*)\s*$")
_ONE_SHAPE = re.compile(r"(\w+): \(B((?:, \d+)*)\)")
_NETWORK_DOC = re.compile(r"Network '([^']+)'")


@dataclass
class Candidate:
    """One model to import: the module instance plus what its code tells about it."""

    label: str  # how messages name it, e.g. "model.py:SmallNet"
    model: nn.Module
    cls: type
    network: str = "model"
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # from DeepWire's comment
    heads: list[tuple[str, dict]] | None = None  # from make_loss(), when the class has one
    notes: list[str] = field(default_factory=list)


def load_python_file(path: Path):
    """Execute a .py file as a fresh module (its folder importable, so its own imports work)."""
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    name = f"deepwire_import_{uuid.uuid4().hex[:10]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # anything the user's code raises
        raise ModelImportError(f"{path}: running it failed: {type(err).__name__}: {err}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _model_classes(module) -> list[type]:
    """nn.Module subclasses defined in this module itself (not imported), DeepWire helpers left out."""
    found = []
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, nn.Module) and value.__module__ == module.__name__ \
                and value.__name__ not in HELPER_RULES:
            found.append(value)
    return found


def _instantiate(obj: Any, label: str) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ModelImportError(f"{label} is neither an nn.Module class nor a function returning one")
    try:
        model = obj()
    except TypeError as err:
        raise ModelImportError(f"{label}() cannot be created without arguments ({err}); add defaults to "
                               "its __init__, or write a small function returning the model and import "
                               "that") from None
    except Exception as err:  # the user's constructor failed
        raise ModelImportError(f"{label}() failed: {type(err).__name__}: {err}") from None
    if not isinstance(model, nn.Module):
        raise ModelImportError(f"{label}() returned a {type(model).__name__}, not an nn.Module")
    return model


def forward_input_shapes(cls: type) -> dict[str, tuple[int, ...]]:
    """The `# name: (B, 1, 8, 8), other: (B, 32)` comment DeepWire writes at the top of forward()."""
    try:
        lines = inspect.getsource(cls.forward).splitlines()
    except (OSError, TypeError):
        return {}
    for line in lines[1:4]:
        match = _SHAPES_COMMENT.match(line)
        if match:
            return {name: tuple(int(s) for s in sizes.split(", ")[1:]) if sizes else ()
                    for name, sizes in _ONE_SHAPE.findall(match.group(1))}
    return {}


def _loss_head(loss: Any) -> tuple[str, dict]:
    if loss is None:
        return "Output", {}
    if isinstance(loss, nn.CrossEntropyLoss):
        return "ClassificationHead", ({"label_smoothing": float(loss.label_smoothing)}
                                      if loss.label_smoothing else {})
    if isinstance(loss, nn.BCEWithLogitsLoss):
        return "BinaryHead", {}
    if isinstance(loss, nn.MSELoss):
        return "RegressionHead", {}
    if isinstance(loss, nn.L1Loss):
        return "RegressionHead", {"loss": "l1"}
    if isinstance(loss, nn.HuberLoss):
        return "RegressionHead", {"loss": "huber", "delta": float(loss.delta)}
    return "Output", {}


def heads_from_make_loss(cls: type) -> list[tuple[str, dict]] | None:
    make_loss = getattr(cls, "make_loss", None)
    if make_loss is None:
        return None
    try:
        losses = make_loss()
    except Exception:  # an instance method or one needing arguments: not DeepWire's convention
        return None
    losses = list(losses) if isinstance(losses, (tuple, list)) else [losses]
    return [_loss_head(loss) for loss in losses]


def _network_name(cls: type, fallback: str) -> str:
    match = _NETWORK_DOC.search(cls.__doc__ or "")
    return match.group(1) if match else fallback


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _candidate(cls_or_obj: Any, label: str, network: str | None = None) -> Candidate:
    model = _instantiate(cls_or_obj, label)
    cls = type(model)
    return Candidate(label, model, cls, network or _network_name(cls, "model"), forward_input_shapes(cls),
                     heads_from_make_loss(cls))


def _from_file(path: Path, name: str | None) -> list[Candidate]:
    module = load_python_file(path)
    if name:
        if not hasattr(module, name):
            known = ", ".join(c.__name__ for c in _model_classes(module)) or "none"
            raise ModelImportError(f"{path} defines no '{name}' (nn.Module classes there: {known})")
        return [_candidate(getattr(module, name), f"{path.name}:{name}")]
    classes = _model_classes(module)
    generated = [c for c in classes if hasattr(c, "make_loss") and _NETWORK_DOC.search(c.__doc__ or "")]
    if generated:  # DeepWire's own export: every network of the project
        several = len(generated) > 1
        return [_candidate(c, f"{path.name}:{c.__name__}",
                           _network_name(c, _snake(c.__name__)) if several else "model") for c in generated]
    if len(classes) == 1:
        return [_candidate(classes[0], f"{path.name}:{classes[0].__name__}")]
    if not classes:
        raise ModelImportError(f"{path} defines no nn.Module class; name the model as {path.name}:NAME "
                            "(a class, or a function returning the model)")
    names = ", ".join(c.__name__ for c in classes)
    raise ModelImportError(f"{path} defines several nn.Module classes ({names}); "
                           f"pick one as {path.name}:NAME")


def _from_package(module_name: str, name: str) -> list[Candidate]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        hint = (": install torchvision (pip install torchvision) to import its models"
                if module_name.startswith("torchvision") else "")
        raise ModelImportError(f"cannot import '{module_name}' ({err}){hint}") from None
    except Exception as err:  # a broken installation raises anything
        raise ModelImportError(f"importing '{module_name}' failed: {type(err).__name__}: {err}") from None
    if not hasattr(module, name):
        raise ModelImportError(f"'{module_name}' has no '{name}'")
    candidate = _candidate(getattr(module, name), f"{module_name}:{name}")
    if module_name.startswith("torchvision"):
        candidate.notes.append("torchvision models are created with fresh weights here; give --weights "
                               "with a saved state_dict to import trained ones")
    return [candidate]


def split_spec(spec: str) -> tuple[str, str]:
    """(path or module, name) of FILE.py:NAME, FILE.py, package.module:NAME or torchvision:NAME.

    A file's folders may hold colons ("runs:old/model.py:Net"), so a file spec is split at the
    last colon that follows ".py"; an existing file is never split; a Windows drive ("C:\\") is
    not a separator.
    """
    if spec.endswith(".py") or Path(spec).is_file():
        return spec, ""
    at = spec.rfind(".py:")
    if at >= 0:
        return spec[:at + 3], spec[at + 4:]
    if re.match(r"^[A-Za-z]:[\\/]", spec):
        return spec, ""
    path_text, _, name = spec.partition(":")
    return path_text, name


def find_models(spec: str) -> list[Candidate]:
    """The model(s) a command-line spec names; ModelImportError says what is wrong with it."""
    path_text, name = split_spec(spec)
    if path_text.endswith(".py") or Path(path_text).is_file():
        return _from_file(Path(path_text), name or None)
    if not name:
        raise ModelImportError(f"'{spec}' is not a file; name a model as FILE.py:NAME, package.module:NAME "
                            "or torchvision:resnet18")
    module_name = "torchvision.models" if path_text == "torchvision" else path_text
    return _from_package(module_name, name)


def default_input_shape(candidate: Candidate) -> tuple[int, ...] | None:
    if candidate.label.startswith("torchvision"):
        return TORCHVISION_SHAPE
    return None
