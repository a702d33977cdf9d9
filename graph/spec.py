"""Block type declarations and the registry that holds them.

A block type is declared once as a `BlockSpec`: data (id, title, category,
help, parameters, ports) plus small pure functions for its shape rule, its
parameter count and its PyTorch code. Palette, inspector, shape inference,
validation, compiler and exporter all read this one declaration.

Shapes are tuples of ints *without* the batch dimension: an image batch
(B, 3, 32, 32) has shape (3, 32, 32). Every block has at most one output,
named "out".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.params import Param, ParamError

Shape = tuple[int, ...]
Params = Mapping[str, Any]

ROLES = ("input", "layer", "head")


class ShapeError(ValueError):
    """A shape rule refused its inputs.

    The message says what was expected and what was received; `port` and
    `param` point at the culprit; `fix` optionally names a block type whose
    insertion in front of `port` would repair it (e.g. "Flatten"); `set_params`
    the parameter values of this block that would (the repair the message names).
    """

    def __init__(self, message: str, port: str | None = None, param: str | None = None,
                 fix: str | None = None, fix_params: Mapping[str, Any] | None = None,
                 set_params: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.port = port
        self.param = param
        self.fix = fix
        self.fix_params = dict(fix_params or {})
        self.set_params = dict(set_params or {})


@dataclass(frozen=True)
class Port:
    """A named input of a block. `ranks`: accepted numbers of non-batch dims (None: any)."""

    name: str
    help: str = ""
    ranks: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Emission:
    """How one block appears in generated code.

    module: constructor expression for `self.<name> = ...` in `__init__`, or
        None for blocks that are a plain expression (Add, Concatenate).
    forward: expression template; "{self}" is the submodule, "{<port>}" the
        variable holding that input (for variadic blocks "{inputs}" is the
        comma-separated list of all inputs).
    helpers: names of helper classes (see graph.helpers_src) the code needs.
    """

    module: str | None
    forward: str
    helpers: tuple[str, ...] = ()


InferFn = Callable[[Params, Mapping[str, Shape]], Shape]
CountFn = Callable[[Params, Mapping[str, Shape], Shape], int]
EmitFn = Callable[[Params, Mapping[str, Shape], Shape], Emission]
LossFn = Callable[[Params], str]
# (params, folder relative paths start from or None for the current one) -> [(param, problem)]
FilesFn = Callable[[Params, "Path | None"], list[tuple[str, str]]]


def _no_params(p: Params, ins: Mapping[str, Shape], out: Shape) -> int:
    return 0


@dataclass(frozen=True)
class BlockSpec:
    """The one declaration of a block type."""

    type_id: str
    title: str
    category: str
    help: str
    infer: InferFn
    emit: EmitFn
    params: tuple[Param, ...] = ()
    inputs: tuple[Port, ...] = (Port("x"),)
    role: str = "layer"
    count: CountFn = _no_params
    version: int = 1
    variadic: str | None = None  # name of an int param giving the number of inputs
    loss: LossFn | None = None  # heads: constructor expression of their loss
    summary: tuple[str, ...] = ()  # params worth showing on a card
    same_shape: bool = False  # output shape always equals input shape (can be disabled)
    tags: tuple[str, ...] = field(default=())
    files: FilesFn | None = None  # checks the files a block reads when built (pretrained weights)

    @property
    def has_output(self) -> bool:
        return self.role != "head"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.type_id} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def input_ports(self, params: Params | None = None) -> tuple[Port, ...]:
        """The input ports, which for variadic merges depend on a parameter."""
        if self.variadic is None:
            return self.inputs
        count = (params or {}).get(self.variadic, self.param(self.variadic).default)
        template = self.inputs[0]
        return tuple(Port(f"in{i}", template.help, template.ranks) for i in range(1, count + 1))

    def check_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Full validated parameter dict: defaults filled in, unknown names refused.

        Raises ParamError whose message starts with the parameter name.
        """
        known = {p.name for p in self.params}
        unknown = sorted(set(raw) - known)
        if unknown:
            names = ", ".join(sorted(known)) or "none"
            raise ParamError(f"unknown parameter '{unknown[0]}' (known: {names})")
        return {p.name: p.check(raw[p.name]) if p.name in raw else p.default for p in self.params}


class Registry:
    """The set of known block types, passed around explicitly (never global)."""

    def __init__(self, specs: Iterable[BlockSpec] = (), renamed: Mapping[str, str] | None = None,
                 aliases: Mapping[str, tuple[str, ...]] | None = None,
                 alias_key: Callable[[str], str] = str.lower):
        self._specs: dict[str, BlockSpec] = {}
        # old type id -> current id, so projects saved before a rename still load
        self.renamed: dict[str, str] = dict(renamed or {})
        for spec in specs:
            self.register(spec)
        # other libraries' names (Dense, Conv2D) -> our ids: only ever suggested, never loaded as such
        self._alias_key = alias_key
        self._aliases: dict[str, tuple[str, ...]] = {}
        for name, targets in (aliases or {}).items():
            missing = [t for t in targets if t not in self._specs]
            if missing or not targets:
                raise ValueError(f"alias {name!r} points at unknown block types {missing}")
            self._aliases[alias_key(name)] = tuple(targets)
        for type_id in self._specs:  # "nn.conv_2d" finds Conv2d as "Conv2d" itself does
            self._aliases.setdefault(alias_key(type_id), (type_id,))
        # a registry extended with a project's block definitions (graph.definitions) says which base
        # it extends and a stamp of the definitions it holds (shape caches key on it); None otherwise
        self.base: Registry = self
        self.stamp: object = None

    def extended(self, specs: Iterable[BlockSpec], stamp: object) -> Registry:
        """A new registry holding this one's types plus `specs` (a project's definitions)."""
        out = Registry(renamed=self.renamed, alias_key=self._alias_key)
        out._specs = dict(self._specs)
        out._aliases = dict(self._aliases)
        for spec in specs:
            out.register(spec)
        out.base = self.base
        out.stamp = stamp
        return out

    def foreign_name(self, name: str) -> tuple[str, ...]:
        """The type ids another library's name for a layer (Dense, nn.Conv2D) corresponds to; () if none."""
        return self._aliases.get(self._alias_key(name), ())

    def register(self, spec: BlockSpec) -> None:
        if spec.type_id in self._specs:
            raise ValueError(f"block type {spec.type_id!r} registered twice")
        if not spec.type_id.isidentifier():
            raise ValueError(f"block type id {spec.type_id!r} must be an identifier")
        if spec.role not in ROLES:
            raise ValueError(f"{spec.type_id}: role must be one of {ROLES}")
        names = [p.name for p in spec.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{spec.type_id}: duplicate parameter names")
        if spec.role == "input" and spec.inputs:
            raise ValueError(f"{spec.type_id}: an input block has no input ports")
        if spec.role == "head" and spec.loss is None:
            raise ValueError(f"{spec.type_id}: a head must declare its loss")
        if spec.variadic is not None:
            spec.param(spec.variadic)  # KeyError if the count parameter is missing
        self._specs[spec.type_id] = spec

    def get(self, type_id: str) -> BlockSpec:
        type_id = self.renamed.get(type_id, type_id)
        try:
            return self._specs[type_id]
        except KeyError:
            raise KeyError(f"unknown block type {type_id!r}") from None

    def resolve(self, type_id: str) -> str:
        """Current id for a possibly renamed type id."""
        return self.renamed.get(type_id, type_id)

    def __contains__(self, type_id: str) -> bool:
        return self.resolve(type_id) in self._specs

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def categories(self) -> dict[str, list[BlockSpec]]:
        """Block types grouped by category, in declaration order."""
        grouped: dict[str, list[BlockSpec]] = {}
        for spec in self._specs.values():
            grouped.setdefault(spec.category, []).append(spec)
        return grouped
