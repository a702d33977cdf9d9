"""How the networks a run was trained on differ from the open project's, in words.

Trained weights belong to the network they were trained on. Before weights
of a run are exported with (or loaded into) a project, `network_differences`
compares the run's project snapshot with the project, network by network:
block types, their settings and whether they are on, and the wires; and
definition by definition (graph/definitions.py), since an instance computes
its definition's body. Block
names, positions, groups and training settings do not change the computation
and are not compared. Pure Python, so the studio can check before it starts
an export; runtime/export_project.py also compares the weights' keys and
shapes with the built model.
"""

from __future__ import annotations

from graph.model import Block, Network, Project

MAX_LISTED = 4  # a different network differs everywhere: the first few say it


def _label(block: Block) -> str:
    name = block.name or block.id
    shown = name if len(name) <= 40 else name[:37] + "..."
    return f"'{shown}'" if shown == block.id else f"'{shown}' ({block.id})"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _block_differences(was: Block, now: Block) -> list[str]:
    if was.type != now.type:
        return [f"block {_label(now)} is a {was.type} in the run, a {now.type} in the project"]
    out = []
    for key in sorted(set(was.params) | set(now.params)):
        if was.params.get(key) != now.params.get(key):
            out.append(f"block {_label(now)} has {key} {_short(was.params.get(key))} in the run, "
                       f"{_short(now.params.get(key))} in the project")
    if was.enabled != now.enabled:
        out.append(f"block {_label(now)} is {'on' if was.enabled else 'off'} in the run, "
                   f"{'on' if now.enabled else 'off'} in the project")
    return out


def _wire(edge, net: Network) -> str:
    def name(bid: str) -> str:
        block = net.blocks.get(bid)
        return block.name or bid if block is not None else bid

    return f"{name(edge.src)} -> {name(edge.dst)}.{edge.dst_port}"


def _kinds(net: Network) -> str:
    return ", ".join(sorted({b.type for b in net.blocks.values()}))


def _network_differences(was: Network, now: Network) -> list[str]:
    out = []
    only_run = [b for bid, b in was.blocks.items() if bid not in now.blocks]
    only_project = [b for bid, b in now.blocks.items() if bid not in was.blocks]
    shared = was.blocks.keys() & now.blocks.keys()
    retyped = [bid for bid in shared if was.blocks[bid].type != now.blocks[bid].type]
    if 2 * (len(only_run) + len(only_project) + len(retyped)) > max(len(was.blocks), len(now.blocks)):
        return [f"the run's network has {len(was.blocks)} blocks ({_kinds(was)}), the project's "
                f"{len(now.blocks)} ({_kinds(now)}): a different network"]
    out += [f"block {_label(b)} ({b.type}) is in the run's network only" for b in only_run]
    out += [f"block {_label(b)} ({b.type}) is new in the project" for b in only_project]
    for bid in sorted(shared):
        out += _block_differences(was.blocks[bid], now.blocks[bid])
    wires_was, wires_now = set(was.edges), set(now.edges)
    out += [f"the wire {_wire(e, was)} is in the run's network only" for e in was.edges if e not in wires_now]
    out += [f"the wire {_wire(e, now)} is new in the project" for e in now.edges if e not in wires_was]
    return out


def network_differences(trained: Project, current: Project) -> list[str]:
    """Sentences saying how the trained project's networks differ from the current one's ([]: same)."""
    out = []
    was = {net.name: net for net in trained.networks}
    now = {net.name: net for net in current.networks}
    several = len(was) > 1 or len(now) > 1
    out += [f"the run has a network '{name}' the project lacks" for name in was if name not in now]
    out += [f"the project's network '{name}' is not in the run" for name in now if name not in was]
    for name in (n for n in now if n in was):
        prefix = f"network '{name}': " if several else ""
        out += [prefix + text for text in _network_differences(was[name], now[name])]
    return out + _definition_differences(trained, current)


def _definition_differences(trained: Project, current: Project) -> list[str]:
    """A block definition is part of every network using it: its body and its bindings are compared too."""
    was = {d.name: d for d in trained.definitions}
    now = {d.name: d for d in current.definitions}
    out = [f"the run has a definition '{name}' the project lacks" for name in was if name not in now]
    out += [f"the project's definition '{name}' is not in the run" for name in now if name not in was]
    for name in (n for n in now if n in was):
        prefix = f"definition '{name}': "
        out += [prefix + text for text in _network_differences(was[name].body, now[name].body)]
        binds_was = {p.name: (p.default, p.binds) for p in was[name].params}
        binds_now = {p.name: (p.default, p.binds) for p in now[name].params}
        if binds_was != binds_now:
            out.append(prefix + "its parameters (their defaults or the settings they set) differ")
    return out


def describe_differences(differences: list[str]) -> str:
    """The first few differences as one sentence part; "and N more" for the rest."""
    shown = "; ".join(differences[:MAX_LISTED])
    more = len(differences) - MAX_LISTED
    return shown + (f"; and {more} more difference{'s' if more > 1 else ''}" if more > 0 else "")
