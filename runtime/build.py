"""Build live torch modules by executing the compiler's source.

The source is registered with `linecache` under a readable file name, so
tracebacks and `inspect` show the generated lines exactly as exported.
"""

from __future__ import annotations

import hashlib
import linecache
import types

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
    module = load_source(compiled.source)
    models = {name: getattr(module, info.class_name)() for name, info in compiled.networks.items()}
    return models, compiled


def build_model(project: Project, registry: Registry, network: str | None = None) -> nn.Module:
    models, compiled = build_models(project, registry)
    return models[compiled.network(network).network]
