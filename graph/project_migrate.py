"""Migrations of project files from older format versions to the current one.

`MIGRATIONS[n]` turns the plain JSON data of a version-n file into version
n + 1; `migrate` applies them in order. A migration only renames and
reshapes what it recognises and leaves anything odd in place, so that the
loader's checks of the current format report it with a precise location.
Where a migration cannot make sense of something (a wire written in a form
no version ever used) it raises `MigrationError`, which the loader turns
into a `ProjectFileError`.

Version history
  0  the prototype: block params under "config", wires as strings
     "b1.out -> b2.x", the training settings under "hyperparameters".
  1  params under "params", wires as {"from", "to", "port"}, settings under
     "training" (only those that differ from the defaults).
  2  an optional top-level "id": the project's stable id, which its runs
     record so that a run can be told to belong to it. A version 1 file
     gets no id on loading (a random one would differ at every load); it
     gets one when it is first saved.
     Optional top-level fields added since, without a version change because a file
     lacking them means what it always meant: "experiment" (a sweep), "deploy_targets"
     (graph/deploy.py; none chosen when absent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CURRENT_VERSION = 2


class MigrationError(ValueError):
    """An old file holds something its migration cannot convert."""

    def __init__(self, location: str, message: str):
        super().__init__(message)
        self.location = location
        self.message = message


def _from_v0(data: dict[str, Any]) -> dict[str, Any]:
    """The prototype format (version 0) to version 1."""
    out = dict(data)
    out["version"] = 1
    if "hyperparameters" in out:
        if "training" in out:
            raise MigrationError("hyperparameters", "a version 0 file has 'hyperparameters', not "
                                   "'training'; this one has both: keep only 'hyperparameters'")
        out["training"] = out.pop("hyperparameters")
    networks = out.get("networks")
    if isinstance(networks, list):
        out["networks"] = [_network_from_v0(net, f"networks[{i}]") for i, net in enumerate(networks)]
    return out


def _network_from_v0(net: Any, where: str) -> Any:
    if not isinstance(net, dict):
        return net
    net = dict(net)
    blocks = net.get("blocks")
    if isinstance(blocks, list):
        net["blocks"] = [_block_from_v0(b, f"{where} > blocks[{i}]") for i, b in enumerate(blocks)]
    edges = net.get("edges")
    if isinstance(edges, list):
        net["edges"] = [_edge_from_v0(e, f"{where} > edges[{i}]") if isinstance(e, str) else e
                        for i, e in enumerate(edges)]
    return net


def _block_from_v0(block: Any, where: str) -> Any:
    if not isinstance(block, dict) or "config" not in block:
        return block
    if "params" in block:
        raise MigrationError(where, "a version 0 block keeps its settings in 'config', not 'params'; "
                               "this one has both: keep only 'config'")
    block = dict(block)
    block["params"] = block.pop("config")
    return block


def _edge_from_v0(text: str, where: str) -> dict[str, str]:
    """'b1.out -> b2.x' becomes {"from": "b1", "to": "b2", "port": "x"}."""
    example = "expected a wire written like 'b1.out -> b2.x' (block id, dot, port)"
    parts = text.split("->")
    if len(parts) != 2:
        raise MigrationError(where, f"{example}; got {text[:80]!r}")
    src, _, src_port = parts[0].strip().rpartition(".")
    dst, _, dst_port = parts[1].strip().rpartition(".")
    if not (src and src_port and dst and dst_port):
        raise MigrationError(where, f"{example}; got {text[:80]!r}")
    if src_port != "out":
        raise MigrationError(where, f"wires leave a block through its output 'out'; "
                               f"this one leaves '{src}' through '{src_port[:40]}'")
    return {"from": src, "to": dst, "port": dst_port}


def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 to 2: nothing to convert; the file simply has no id yet."""
    return {**data, "version": 2}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_v0, 1: _from_v1}


def migrate(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Data of a file of `version` brought up to CURRENT_VERSION (the input is not modified)."""
    while version < CURRENT_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return data
