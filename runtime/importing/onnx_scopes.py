"""The module paths and classes an ONNX file records, so its repeated modules become block definitions.

torch.onnx.export's dynamo exporter (the default since torch 2.9, and what
`deepwire export --format onnx` writes) stores on every node where it came
from: `pkg.torch.onnx.name_scopes` (['', 'layer1', 'layer1.0', 'layer1.0.conv1',
'conv2d']: the module paths from the root, then the operation) and
`pkg.torch.onnx.class_hierarchy` (the class of each: ['__main__.Net', ...,
'__main__.BasicBlock', 'torch.nn.modules.conv.Conv2d', 'aten.conv2d.default']).
That is what module_classes.make_definitions reads from a live model, except
the classes' source, so `ScopeTree` stands in for the model: a stand-in class
per recorded class name (two uses of BasicBlock share one), found by module
path. Without source, the exposed parameters are the settings that differ
between uses (named after the setting), not the constructor's arguments.

The older TorchScript exporter (dynamo=False) names nodes
'/layer1/layer1.0/conv1/Conv': module paths, but no classes, so nothing says
which modules are the same class; such a file is imported flat.
"""

from __future__ import annotations

import ast

NAME_SCOPES = "pkg.torch.onnx.name_scopes"
CLASS_HIERARCHY = "pkg.torch.onnx.class_hierarchy"


def _recorded(node) -> tuple[list[str], list[str]]:
    """The node's name scopes and classes, ([], []) when the file does not record them (or garbles them)."""
    props = {p.key: p.value for p in node.metadata_props}
    if NAME_SCOPES not in props or CLASS_HIERARCHY not in props:
        return [], []
    try:
        names = ast.literal_eval(props[NAME_SCOPES][:100_000])
        classes = ast.literal_eval(props[CLASS_HIERARCHY][:100_000])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return [], []
    if not (isinstance(names, list) and isinstance(classes, list) and len(names) == len(classes) >= 2
            and all(isinstance(n, str) for n in names + classes)):
        return [], []
    return names, classes


def node_scope(node) -> tuple[str, list[tuple[str, str]]]:
    """The node's module path ("" at the top or when not recorded) and its (path, class) chain."""
    names, classes = _recorded(node)
    # the first entry is the root model, the last the operation itself (aten.conv2d.default)
    chain = [(path, cls) for path, cls in zip(names[1:-1], classes[1:-1]) if path]
    return (chain[-1][0] if chain else ""), chain


def node_operation(node) -> str:
    """The exporter's name of the node's operation in its module's forward (relu_1, add), "" if none."""
    names, _ = _recorded(node)
    return names[-1] if names else ""


def is_layer(qualified: str) -> bool:
    """Whether a recorded class is one of torch's own layers (nn.Conv2d), not a container."""
    return qualified.startswith("torch.nn.") and not qualified.startswith("torch.nn.modules.container.")


class ScopeTree:
    """Stands in for the exported model: get_submodule(path) gives an object of a class named as recorded."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}
        self._modules: dict[str, object] = {}
        self._recorded: dict[str, str] = {}  # path -> the class name as recorded

    def record(self, chain: list[tuple[str, str]]) -> None:
        for path, qualified in chain:
            if path not in self._modules:
                self._modules[path] = self._class(qualified)()
                self._recorded[path] = qualified

    def _class(self, qualified: str) -> type:
        if qualified not in self._classes:
            module, _, name = qualified.rpartition(".")
            name = name if name.isidentifier() else "Module"
            # no source and no forward(): the definition's ports are x, x1, ... and its parameters the
            # settings that differ between uses
            self._classes[qualified] = type(name, (), {"__module__": module or "onnx", "__doc__": ""})
        return self._classes[qualified]

    def get_submodule(self, path: str) -> object:
        try:
            return self._modules[path]
        except KeyError:
            raise AttributeError(f"no module {path!r} recorded") from None

    def leaves(self) -> set[str]:
        """Paths of torch's own layers (nn.Conv2d): each became one block (or none: folded away)."""
        return {path for path, qualified in self._recorded.items() if is_layer(qualified)}

    def __bool__(self) -> bool:
        return bool(self._modules)
