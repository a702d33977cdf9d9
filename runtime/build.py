"""Build live torch modules by executing the compiler's source.

The source is registered with `linecache` under a readable file name, so
tracebacks and `inspect` show the generated lines exactly as exported.
"""

from __future__ import annotations

import hashlib
import linecache
import os
import types
from pathlib import Path

from torch import nn

from graph.compiler import CompiledProject, compile_project
from graph.model import Project
from graph.spec import Registry


def load_source(source: str, name: str = "deepwire_model") -> types.ModuleType:
    """Execute generated source as a module and return it."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    filename = f"<deepwire-generated {name} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    return module


def build_models(project: Project, registry: Registry,
                 compiled: CompiledProject | None = None) -> tuple[dict[str, nn.Module], CompiledProject]:
    """One freshly initialised module per network, built from the generated source."""
    compiled = compiled or compile_project(project, registry)
    check_pretrained_files(project)
    module = load_source(compiled.source)
    try:
        models = {name: getattr(module, info.class_name)() for name, info in compiled.networks.items()}
    except FileNotFoundError as exc:  # a backbone's pretrained_weights file is missing (the message says so)
        from runtime.train.errors import SetupError  # not at the top: runtime.train imports this module

        raise SetupError(str(exc)) from None
    except ValueError as exc:  # the generated backbone loader: the file is not the backbone's weights
        if not str(exc).startswith("pretrained weights "):
            raise
        from runtime.train.errors import SetupError

        raise SetupError(str(exc)) from None
    return models, compiled


def check_pretrained_files(project: Project) -> None:
    """Read each backbone's pretrained_weights with the guarded reader before the generated code does.

    The generated loader checks too (the exported file stands alone), but here a damaged or hostile
    file gets the same WeightsFileError as every other weights path. A missing file is left to the
    generated code, whose message says where such files come from.
    """
    from runtime.weights_file import WeightsFileError, read_state_dict  # here: runtime.train imports us

    for net in project.networks:
        for block in net.blocks.values():
            text = block.params.get("pretrained_weights") if block.enabled else None
            if not text or text == "torch-cache":
                continue
            path = Path(os.path.expanduser(str(text)))
            if not os.path.lexists(path):
                continue
            try:
                read_state_dict(path, "pretrained weights file")
            except WeightsFileError as err:
                raise WeightsFileError(path, f"{err.reason} (the pretrained_weights of block "
                                             f"'{block.name}')") from None


def build_model(project: Project, registry: Registry, network: str | None = None) -> nn.Module:
    models, compiled = build_models(project, registry)
    return models[compiled.network(network).network]
