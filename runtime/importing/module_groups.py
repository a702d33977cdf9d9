"""The imported model's module hierarchy, kept as canvas groups: `layer1.0.conv1` lands in group "layer1".

Each imported block remembers the module it came from (its scope, "layer1.0.conv1",
or "" for code in the model's own forward()). `module_groups` groups the blocks
by the model's top-level children (a ResNet's layer1 .. layer4); a child
holding most of the model (Hugging Face's `vit`, torchvision's `features` of
an EfficientNet) is looked into, so the groups are its children instead
(`vit.embeddings`, `vit.encoder.layer.0`, `features.1`, ...). Groups are flat
(they do not nest), so this is one level, chosen per branch of the hierarchy.
A module that became a single block is no group (a lone `conv1` card says as
much as a group of one). Blocks before every group
(a ResNet's conv1, bn1, relu, maxpool) form "stem" and those after every group
(pooling, classifier, output) form "head", when they are two or more. Input
blocks stay outside. Groups only tidy the canvas; they change no computation.
"""

from __future__ import annotations

from graph.model import Group, Network

MIN_MEMBERS = 2
MAX_SPLITS = 6


def _by_prefix(bids: list[str], paths: dict[str, list[str]], depth: int) -> dict[tuple[str, ...], list[str]]:
    """Blocks grouped by the first `depth` parts of their module path (those at or above it left out)."""
    found: dict[tuple[str, ...], list[str]] = {}
    for bid in bids:
        path = paths.get(bid)
        if path is not None and len(path) >= depth:
            found.setdefault(tuple(path[:depth]), []).append(bid)
    return found


def _split(groups: dict[tuple[str, ...], list[str]], paths, total: int) -> bool:
    """Replace the largest group by its children when it holds most of the model; True if it did.

    It splits only when the children (of two blocks or more) hold at least half of its blocks, so a
    Sequential of single layers (VGG's features) stays one group rather than becoming loose cards.
    """
    prefix, bids = max(groups.items(), key=lambda item: len(item[1]))
    if 2 * len(bids) <= total:
        return False
    children = {k: v for k, v in _by_prefix(bids, paths, len(prefix) + 1).items() if len(v) >= MIN_MEMBERS}
    if 2 * sum(len(v) for v in children.values()) < len(bids):
        return False
    del groups[prefix]
    groups.update(children)
    return True


def module_groups(network: Network, scopes: dict[str, str], inputs: set[str]) -> list[Group]:
    """Groups named after the modules the blocks came from, in the network's block order."""
    order = [bid for bid in network.blocks if bid not in inputs]
    paths = {bid: scopes[bid].split(".") for bid in order if scopes.get(bid)}
    if not paths:
        return []
    groups = {k: v for k, v in _by_prefix(order, paths, 1).items() if len(v) >= MIN_MEMBERS}
    for _ in range(MAX_SPLITS):
        if not groups or not _split(groups, paths, len(paths)):
            break
    position = {bid: i for i, bid in enumerate(order)}
    named = sorted(((".".join(k), v) for k, v in groups.items()), key=lambda item: position[item[1][0]])
    grouped = {bid for _, bids in named for bid in bids}
    if not grouped:
        return []
    first = min(position[b] for b in grouped)
    last = max(position[b] for b in grouped)
    stem = [b for b in order if b not in grouped and position[b] < first]
    head = [b for b in order if b not in grouped and position[b] > last]
    taken = {name for name, _ in named}
    runs = [("stem", stem)] if len(stem) >= MIN_MEMBERS and "stem" not in taken else []
    runs += named
    if len(head) >= MIN_MEMBERS and "head" not in taken:
        runs.append(("head", head))
    return [Group(f"g{i}", name, tuple(bids)) for i, (name, bids) in enumerate(runs, start=1)]
