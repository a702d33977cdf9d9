"""Project files (`*.dw.json`): load, save, and the errors a damaged file gives.

Saving turns a `Project` into plain JSON data (`project_to_dict`) and writes
it atomically: a temporary file in the same folder, flushed and synced, then
renamed over the old file, so a crash mid-save never loses the previous one.

Loading reads the text here (size, encoding, JSON syntax), then hands the
data to graph.project_read, which bounds its nesting, brings older format
versions up to date (graph.project_migrate) and resolves every block against
the registry passed in. Anything wrong raises one `ProjectFileError` naming the
place ("networks[0] 'model' > blocks[3] 'conv1' > params > kernel_size" or
"line 12, column 5"): never a traceback, never a half-loaded project.
Shapes and loops are not checked here; they are diagnostics the editor
shows, so a project with a shape error still opens.
"""

from __future__ import annotations

import glob
import json
import math
import os
import stat
import time
from typing import Any

from graph.atomic import atomic_open, clean_temporaries
from graph.bulk import without_gc_pauses
from graph.model import Definition, Network, Project, new_project_id
from graph.project_migrate import CURRENT_VERSION, MigrationError
from graph.project_read import (
    FORMAT,
    MAX_SEED,
    PROJECT_ID,
    FieldError,
    quote_name,
    read_project,
    too_deep_message,
)
from graph.spec import Registry

MAX_FILE_BYTES = 50 * 1024 * 1024  # far above any real project; refuses a wrong file quickly


class ProjectFileError(ValueError):
    """A project file could not be loaded. str() is "<path>: <location>: <message>"."""

    def __init__(self, path: str, location: str, message: str):
        if len(message) > 600:  # a rejected value may be megabytes long
            message = message[:600] + " …"
        super().__init__(f"{path}: {location}: {message}")
        self.path = path
        self.location = location
        self.message = message


def _join(where: str, part: str) -> str:
    return f"{where} > {part}" if where else part


# ---------------------------------------------------------------- saving


def _plain(value: Any, where: str) -> Any:
    """Value as JSON data: tuples become lists; refuses what JSON cannot hold."""
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, _join(where, str(k))) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot save {where}: {value} is not a finite number")
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise ValueError(f"cannot save {where}: a {type(value).__name__} is not a JSON value")


def _network_to_dict(net: Network) -> dict[str, Any]:
    where = f"network {quote_name(net.name)}"
    blocks = []
    for block in net.blocks.values():
        here = f"{where} > block {quote_name(block.name)}"
        entry = {"id": block.id, "type": block.type, "name": block.name,
                 # sorted, so equal projects always give the same text (clean diffs)
                 "params": _plain(dict(sorted(block.params.items())), f"{here} > params"),
                 "position": _plain([float(block.position[0]), float(block.position[1])],
                                    f"{here} > position")}
        if not block.enabled:
            entry["enabled"] = False
        if block.frozen:  # written only when set, so older files and goldens stay as they were
            entry["frozen"] = True
        if block.shares is not None:  # another use of that block's module
            entry["shares"] = block.shares
        blocks.append(entry)
    edges = []
    for edge in net.edges:
        if edge.src_port != "out":
            raise ValueError(f"cannot save {where}: wire {edge} must leave its block through 'out'")
        edges.append({"from": edge.src, "to": edge.dst, "port": edge.dst_port})
    out: dict[str, Any] = {"name": net.name, "blocks": blocks, "edges": edges}
    if net.ties:  # tied parameters, written only when there are some
        out["ties"] = dict(sorted(net.ties.items()))
    if net.groups:
        out["groups"] = [{"id": g.id, "name": g.name, "blocks": list(g.blocks), "collapsed": g.collapsed}
                         for g in net.groups]
    return out


def definitions_to_list(definitions) -> list[dict[str, Any]]:
    """Block definitions as a project file's "definitions" entry holds them."""
    return [_definition_to_dict(d) for d in definitions]


def _definition_to_dict(definition: Definition) -> dict[str, Any]:
    where = f"definition {quote_name(definition.name)}"
    out: dict[str, Any] = {"name": definition.name}
    if definition.version != 1:
        out["version"] = definition.version
    if definition.description:
        out["description"] = definition.description
    if definition.origin is not None:  # copied from the user library: which entry and version
        out["library"] = {"name": definition.origin.name, "version": definition.origin.version}
    out["params"] = [{"name": p.name, "default": _plain(p.default, f"{where} > params > {p.name}"),
                      "binds": list(p.binds)} for p in definition.params]
    body = _network_to_dict(definition.body)
    del body["name"]  # the body is named by its definition
    out.update(body)
    return out


def project_to_dict(project: Project) -> dict[str, Any]:
    """The project as the plain JSON data of a current-version file (a fresh dict, shares nothing)."""
    out: dict[str, Any] = {"format": FORMAT, "version": CURRENT_VERSION}
    if project.id:  # "" only for a project read from a file of before ids, until it is saved
        if not PROJECT_ID.fullmatch(project.id):
            raise ValueError(f"cannot save the project id {project.id[:80]!r}: it must be 1 to 64 letters, "
                             "digits, '-' or '_', or the file would not load again")
        out["id"] = project.id
    out["name"] = project.name
    if project.description:
        out["description"] = project.description
    seed = project.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"cannot save the seed {seed!r}: it must be a whole number "
                         f"between 0 and {MAX_SEED}, or the file would not load again")
    out["seed"] = seed
    out["data"] = {"source": project.data.source,
                   "options": _plain(project.data.options, "data > options")}
    out["training"] = _plain(project.training.changed(), "training")
    if project.definitions:  # block definitions, written only when there are some (older files unchanged)
        out["definitions"] = definitions_to_list(project.definitions)
    out["networks"] = [_network_to_dict(net) for net in project.networks]
    if project.experiment:  # only when there is one, so files without a sweep stay byte-identical
        out["experiment"] = _plain(project.experiment, "experiment")
    if project.deploy_targets:  # likewise: files that choose no target are as before
        out["deploy_targets"] = list(project.deploy_targets)
    return out


def dumps_project(project: Project) -> str:
    """The project file's text: indented, keys in a fixed order, Unicode kept readable."""
    return json.dumps(project_to_dict(project), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save_project(project: Project, path: str | os.PathLike) -> None:
    """Write the project to `path` atomically.

    The text goes to a temporary file beside the target, is flushed and synced
    to disk, then renamed over the target. If anything fails (a full disk, a
    crash) the previous file is untouched and the temporary file is removed;
    the OSError is raised for the caller to show.

    A project without an id yet (read from a file of before ids) gets one
    here, on the project object too, so the runs it trains from now on
    record the id the file has. Saving under another name (Save As) keeps
    the id: the copy is the same project, and its runs follow it.
    """
    if not project.id:
        project.id = new_project_id()
    text = dumps_project(project)
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate, e.g. pasted from a broken source
        raise ValueError(f"cannot save: the text {quote_name(err.object[max(0, err.start - 20):err.end])} "
                         "holds an invalid character; retype it") from None
    target = os.path.realpath(os.fspath(path))  # save through a symlink, not over it
    folder = os.path.dirname(target)
    with atomic_open(target, "wb") as handle:
        handle.write(payload)
    _remove_stale_temporaries(folder, os.path.basename(target))


STALE_TEMP_SECONDS = 600  # a save takes well under a second; an older temporary is from a killed save


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Delete temporary files that saves of this file left when their process was killed."""
    clean_temporaries(folder)
    now = time.time()  # temporaries named the way saves before graph.atomic named them
    for leftover in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp")):
        try:
            if now - os.stat(leftover).st_mtime > STALE_TEMP_SECONDS:
                os.unlink(leftover)
        except OSError:
            pass  # gone already, or not ours to delete: never a reason to fail a save


def load_project(path: str | os.PathLike, registry: Registry) -> Project:
    """Read and check a project file; raises ProjectFileError for anything wrong with it."""
    source = os.fspath(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):  # a pipe would block open() forever, a device never ends
            raise ProjectFileError(source, "file", "this is not a regular file (a pipe, device or socket); "
                                   "choose a .dw.json file")
        size = info.st_size
        if size > MAX_FILE_BYTES:  # refused before reading a byte
            raise _too_big(source, size)
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # a bound even for a file that is still growing
    except FileNotFoundError:
        raise ProjectFileError(source, "file", "there is no such file; check the folder and name") from None
    except IsADirectoryError:
        raise ProjectFileError(source, "file", "this is a folder, not a project file; "
                               "choose a .dw.json file") from None
    except PermissionError:
        raise ProjectFileError(source, "file", "DeepWire is not allowed to read this file; "
                               "check its permissions") from None
    except OSError as err:
        problem = f"the file could not be read ({err.strerror or err})"
        raise ProjectFileError(source, "file", problem) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big(source, len(raw))
    return loads_project(_decode(raw, source), registry, source)


def _too_big(source: str, size: int) -> ProjectFileError:
    return ProjectFileError(source, "file", f"the file is {size / 2**20:.1f} MB, but project files are at "
                            f"most {MAX_FILE_BYTES // 2**20} MB; is this really a DeepWire project?")


def _decode(raw: bytes, source: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):  # a BOM some editors add
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ProjectFileError(source, f"line {line}", "the file is not UTF-8 text, which is how DeepWire "
                               "saves projects; it may be damaged or not a project file") from None


class _DuplicateKeyError(Exception):
    """An object names the same field twice."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # json would silently keep the last one, hiding a typo
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def loads_project(text: str | bytes, registry: Registry, source: str = "<memory>") -> Project:
    """Parse and check the text of a project file; raises ProjectFileError naming the place."""
    if isinstance(text, (bytes, bytearray)):
        text = _decode(bytes(text), source)
    if len(text) > MAX_FILE_BYTES:
        raise _too_big(source, len(text.encode("utf-8", "surrogatepass")))
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ProjectFileError(source, "file", "the file is empty; it may have been cut off while saving. "
                               "Open a backup, or start a new project")
    try:
        with without_gc_pauses():  # a big project is a few hundred thousand objects, none garbage
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        raise ProjectFileError(source, f"line {err.lineno}, column {err.colno}",
                               _json_problem(err, text)) from None
    except RecursionError:
        raise ProjectFileError(source, "file", too_deep_message()) from None
    except _DuplicateKeyError as err:
        raise ProjectFileError(source, "file", f"the name {quote_name(err.args[0])} appears twice in "
                               "the same object; keep only one of them") from None
    except ValueError as err:  # e.g. an integer with thousands of digits
        raise ProjectFileError(source, "file", f"a value could not be read: {err}") from None
    with without_gc_pauses():
        return project_from_dict(data, registry, source)


def _json_problem(err: json.JSONDecodeError, text: str) -> str:
    if err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string"):
        return ("the file ends in the middle of the project; it was probably cut off (for example by a "
                "crash while saving). Open a backup or an earlier version")
    hint = ""
    if "double quotes" in err.msg or "Expecting value" in err.msg:
        hint = " (JSON wants names in double quotes and no comma after the last item)"
    return f"this is not valid JSON: {err.msg[0].lower()}{err.msg[1:]}{hint}"


# ---------------------------------------------------------------- reading data


def project_from_dict(data: Any, registry: Registry, source: str = "<memory>") -> Project:
    """Check plain JSON data of a project file and build the Project (the data is not modified)."""
    try:
        return read_project(data, registry)
    except (FieldError, MigrationError) as err:
        raise ProjectFileError(source, err.location, err.message) from None
    except RecursionError:
        raise ProjectFileError(source, "file", too_deep_message()) from None

