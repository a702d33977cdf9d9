"""Transfer learning: start blocks from trained weights, keep frozen blocks fixed.

Two kinds of weight source, both read with `torch.load(weights_only=True)`
(opening one never runs code):

- a DeepWire run (its folder, or best.pt / last.pt in it): blocks are
  matched by block id, the one name that survives renaming a block or
  moving it; the checkpoint's `block_modules` map says which submodule
  held each block, so weights are found even when the generated attribute
  names differ between the two projects;
- a plain PyTorch state_dict (any .pt/.pth holding name -> tensor, also
  wrapped as {"state_dict": ...} or {"model": ...}): keys are matched to
  blocks by the generated attribute name (`conv1.weight` feeds the block
  whose submodule is `conv1`), or by `init_key_map` ("features.0=conv1,
  backbone=b3": file prefix = block).

`init_blocks` picks what to copy: block ids, block names or group names
(a group stands for all its blocks), separated by commas; empty copies
every block the file has weights for.

Frozen blocks are the blocks marked frozen in the project plus, with
`freeze_init`, the copied ones: their parameters stop requiring gradients
(so no optimizer sees them) and the trainer keeps them in eval mode. The
copied blocks that still learn are "pretrained": they get
`lr * pretrained_lr_scale` (see runtime.train.optim).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from graph.compiler import CompiledProject
from graph.model import Network, Project
from runtime import weights_file
from runtime.train.checkpoint import FORMAT
from runtime.train.errors import SetupError

_WRAPPERS = ("state_dict", "model_state_dict", "model", "module")  # how other tools nest a state_dict


@dataclass
class TransferPlan:
    """What transfer learning did to the models, by network: submodule attributes."""

    frozen: dict[str, list[str]] = field(default_factory=dict)
    pretrained: dict[str, list[str]] = field(default_factory=dict)  # copied and still learning
    copied: dict[str, list[str]] = field(default_factory=dict)  # started from the weights file
    source: str = ""  # the weights file they came from
    random_frozen: list[str] = field(default_factory=list)  # frozen yet never loaded: they stay random
    # matched by name without init_blocks, but sized differently (a new head): left at random weights
    resized: list[str] = field(default_factory=list)

    def pretrained_params(self, network: str, model: nn.Module) -> list[nn.Parameter]:
        return [p for attr in self.pretrained.get(network, []) for p in model.get_submodule(attr).parameters()
                if p.requires_grad]

    def describe(self) -> str | None:
        """One line for the run's log, e.g. 'conv1, conv2 start from best.pt; frozen: conv1, conv2'."""
        parts = []
        copied = [attr for attrs in self.copied.values() for attr in attrs]
        if copied:
            parts.append(f"{', '.join(copied)} start from {self.source}")
        if self.resized:
            parts.append(f"{', '.join(self.resized)} differ in size from the file's and start from random "
                         "weights (name them in init_blocks to be told why)")
        for label, table in (("frozen (kept fixed)", self.frozen), ("pretrained, learning at the scaled "
                                                                     "rate", self.pretrained)):
            names = [attr for attrs in table.values() for attr in attrs]
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        return "; ".join(parts) or None


def resolve_path(path_text: str, base_dirs: list[Path]) -> Path:
    """A relative path is looked up in each base dir in turn; a run folder means its best.pt."""
    try:
        return _resolve_path(Path(path_text).expanduser(), path_text, base_dirs)
    except OSError as err:  # a name longer than the system allows, a loop of links, no permission
        raise weights_file.WeightsFileError(path_text, f"cannot be looked up ({err.strerror or err})"
                                            ) from None


def _resolve_path(path: Path, path_text: str, base_dirs: list[Path]) -> Path:
    if not path.is_absolute():
        found = next((base / path for base in base_dirs if (base / path).exists()), None)
        if found is None:
            where = " and ".join(str(base) for base in base_dirs)
            raise SetupError(f"init_checkpoint '{path_text}' was not found (looked in {where}); train "
                             "that run first (with --out so it lands there), or give weights with --init "
                             "PATH (a run folder, its best.pt or a state_dict file)")
        path = found
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise SetupError(f"{path}: this folder holds no best.pt or last.pt; give a DeepWire run folder or a "
                         "weights file (.pt / .pth)")
    return path


def read_weights(path: Path) -> dict:
    """{'deepwire': checkpoint} or {'state_dict': name -> tensor}; WeightsFileError says what is wrong."""
    state = weights_file.read_file(path, "weights file (a DeepWire run folder, its best.pt, or a state_dict)")
    if isinstance(state, dict) and (state.get("format") == FORMAT or "block_modules" in state):
        return {"deepwire": weights_file.check_checkpoint(state, path)}
    for _ in range(2):  # {"model": {"state_dict": {...}}} exists too
        if isinstance(state, dict) and not _is_state_dict(state):
            inner = next((state[k] for k in _WRAPPERS if isinstance(state.get(k), dict)), None)
            if inner is not None:
                state = inner
    state = weights_file.check_state_dict(state, path)
    if all(k.startswith("module.") for k in state):  # saved from DataParallel/DDP
        state = {k[len("module."):]: v for k, v in state.items()}
    return {"state_dict": state}


def _is_state_dict(state: dict) -> bool:
    return bool(state) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())


def resolve_blocks(text: str, project: Project) -> dict[str, list[str]]:
    """init_blocks -> {network: [block ids]}; each item is a block id, block name or group name."""
    wanted: dict[str, list[str]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        found = False
        for net in project.networks:
            ids = _match(item, net)
            if ids:
                found = True
                for block_id in ids:
                    if block_id not in wanted.setdefault(net.name, []):
                        wanted[net.name].append(block_id)
        if not found:
            names = sorted({b.name for n in project.networks for b in n.blocks.values()}
                           | {g.name for n in project.networks for g in n.groups})
            raise SetupError(f"init_blocks: '{item}' is no block id, block name or group name of this "
                             f"project (it has: {', '.join(names)}); fix init_blocks")
    return wanted


def _match(item: str, net: Network) -> list[str]:
    if item in net.blocks:
        return [item]
    by_name = [bid for bid, b in net.blocks.items() if b.name == item]
    if by_name:
        return by_name
    return [bid for g in net.groups if g.name == item for bid in g.blocks if bid in net.blocks]


def _key_map(text: str, project: Project) -> dict[str, dict[str, str]]:
    """init_key_map 'prefix=block, ...' -> {network: {block id: file prefix}}."""
    out: dict[str, dict[str, str]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if "=" not in item:
            raise SetupError(f"init_key_map: '{item}' should be FILE_PREFIX=BLOCK (e.g. features.0=conv1)")
        prefix, block = (s.strip() for s in item.split("=", 1))
        for net_name, ids in resolve_blocks(block, project).items():
            for block_id in ids:
                out.setdefault(net_name, {})[block_id] = prefix.rstrip(".")
    return out


def apply_transfer(project: Project, models: dict[str, nn.Module], compiled: CompiledProject,
                   base_dirs: list[Path]) -> TransferPlan:
    """Copy weights as the training settings say, freeze what must not learn; see the module docstring."""
    config = project.training
    plan = TransferPlan()
    copied: dict[str, list[str]] = {}  # network -> block ids
    if config.init_checkpoint:
        path = resolve_path(config.init_checkpoint, base_dirs)
        source = read_weights(path)
        plan.source = str(path)
        wanted = resolve_blocks(config.init_blocks, project)
        if "deepwire" in source:
            copied = _copy_from_run(source["deepwire"], path, wanted, models, compiled, plan.resized)
        else:
            copied = _copy_from_state_dict(source["state_dict"], path, wanted,
                                           _key_map(config.init_key_map, project), models, compiled,
                                           plan.resized)
        # by the names the code gives them, like every other list of the plan
        code_names = {bid: attr for compiled_net in compiled.networks.values()
                      for bid, attr in compiled_net.module_names.items()}
        plan.resized = [code_names.get(bid, bid) for bid in plan.resized]
    for net in project.networks:
        if net.name not in models:
            continue
        modules = compiled.networks[net.name].module_names
        frozen_ids = [bid for bid, b in net.blocks.items() if b.frozen and b.enabled]
        if config.freeze_init:
            frozen_ids += [bid for bid in copied.get(net.name, []) if bid not in frozen_ids]
        plan.frozen[net.name] = [modules[bid] for bid in frozen_ids if bid in modules]
        plan.copied[net.name] = [modules[bid] for bid in copied.get(net.name, []) if bid in modules]
        own = models[net.name].state_dict()
        plan.random_frozen += [net.block(bid).name for bid in frozen_ids
                               if _has_state(own, modules.get(bid)) and bid not in copied.get(net.name, [])
                               and not net.block(bid).params.get("pretrained_weights")]
        plan.pretrained[net.name] = [modules[bid] for bid in copied.get(net.name, [])
                                     if bid in modules and bid not in frozen_ids]
        # blocks that load published weights themselves (backbones) are pretrained too
        learning = plan.pretrained[net.name]
        learning += [modules[bid] for bid, b in net.blocks.items()
                     if b.params.get("pretrained_weights") and bid in modules
                     and bid not in frozen_ids and modules[bid] not in learning]
        for attr in plan.frozen[net.name]:
            models[net.name].get_submodule(attr).requires_grad_(False)
    plan.frozen = {k: v for k, v in plan.frozen.items() if v}
    plan.copied = {k: v for k, v in plan.copied.items() if v}
    plan.pretrained = {k: v for k, v in plan.pretrained.items() if v}
    return plan


def _copy_from_run(state: dict, path: Path, wanted: dict[str, list[str]], models: dict[str, nn.Module],
                   compiled: CompiledProject, resized: list[str]) -> dict[str, list[str]]:
    sources = state.get("block_modules") or {}
    copied: dict[str, list[str]] = {}
    for net_name, model in models.items():
        if net_name in state["models"]:
            source_net = net_name
        elif len(state["models"]) == 1 and len(models) == 1:
            source_net = next(iter(state["models"]))
        else:
            continue
        weights = state["models"][source_net]
        source_modules = sources.get(source_net) or {}
        target_modules = compiled.networks[net_name].module_names
        explicit = net_name in wanted
        blocks = wanted.get(net_name) if wanted else [b for b in target_modules if b in source_modules]
        own = model.state_dict()
        updates: dict[str, torch.Tensor] = {}
        for block in blocks or []:
            if not _has_state(own, target_modules.get(block)):
                continue  # a block without weights (ReLU, pooling): nothing to copy
            # by id; else (an older run without the map, or a project built anew with other ids) by the
            # same generated attribute name, i.e. the same block name
            src_attr = source_modules.get(block)
            if src_attr is None and (not source_modules or target_modules[block] in source_modules.values()):
                src_attr = target_modules[block]
            if src_attr is None:
                continue
            found = _take(weights, src_attr, target_modules[block], own, updates, path, block,
                          None if explicit else resized)
            if found:
                copied.setdefault(net_name, []).append(block)
        model.load_state_dict(updates, strict=False)
        if explicit:
            done = copied.get(net_name, [])
            missing = [b for b in wanted[net_name]
                       if _has_state(own, target_modules.get(b)) and b not in done]
            if missing:
                known = sorted(source_modules)
                raise SetupError(f"{path}: no weights for block(s) {', '.join(missing)} in this checkpoint "
                                 f"(the checkpoint has blocks: {', '.join(known) or 'none recorded'}); "
                                 "fix init_blocks")
    if not copied and resized:
        raise SetupError(f"{path}: the blocks that match by id ({', '.join(resized)}) all differ in size "
                         "from the checkpoint's; give them the sizes of the run you copy from, or name "
                         "the blocks to copy in init_blocks to see what differs")
    if not copied:
        held = _summarise(next(iter(state["models"].values()), {}))
        raise SetupError(f"{path}: no block of this project matches a block of the checkpoint by id "
                         f"(it holds {held}); "
                         "name the blocks to copy in init_blocks")
    return copied


def _copy_from_state_dict(weights: dict[str, torch.Tensor], path: Path, wanted: dict[str, list[str]],
                          key_map: dict[str, dict[str, str]], models: dict[str, nn.Module],
                          compiled: CompiledProject, resized: list[str]) -> dict[str, list[str]]:
    copied: dict[str, list[str]] = {}
    misfits: list[tuple] = []  # (prefix, attr, own, block) of blocks left out for their sizes
    for net_name, model in models.items():
        target_modules = compiled.networks[net_name].module_names
        mapped = key_map.get(net_name, {})
        blocks = wanted.get(net_name) if wanted else list(target_modules)
        own = model.state_dict()
        updates: dict[str, torch.Tensor] = {}
        for block in blocks or []:
            if not _has_state(own, target_modules.get(block)):
                continue
            prefix = mapped.get(block, target_modules[block])
            before = len(resized)
            if _take(weights, prefix, target_modules[block], own, updates, path, block,
                     None if wanted else resized):
                copied.setdefault(net_name, []).append(block)
            elif len(resized) > before:
                misfits.append((prefix, target_modules[block], own, block))
            elif wanted:
                raise SetupError(f"{path}: no weights for block '{block}': the file has no keys starting "
                                 f"with '{prefix}.' (it holds {_summarise(weights)}); map them with "
                                 f"init_key_map, e.g. '<prefix in the file>={block}'")
        model.load_state_dict(updates, strict=False)
    if not copied and misfits:
        # nothing fits at all: say exactly what differs for the first one (this raises)
        prefix, attr, own, block = misfits[0]
        _take(weights, prefix, attr, own, {}, path, block)
    if not copied:
        names = ", ".join(f"{b}: {a}" for n in models for b, a in compiled.networks[n].module_names.items())
        raise SetupError(f"{path}: no key of this state_dict matches a block of the project (it holds "
                         f"{_summarise(weights)}; the project's blocks are named {names}); map them with "
                         "init_key_map ('<prefix in the file>=<block>')")
    return copied


def _has_state(own: dict[str, torch.Tensor], attr: str | None) -> bool:
    return attr is not None and any(k.startswith(attr + ".") for k in own)


def _take(weights: dict[str, torch.Tensor], src_prefix: str, dst_attr: str, own: dict[str, torch.Tensor],
          updates: dict[str, torch.Tensor], path: Path, block: str, resized: list[str] | None = None) -> bool:
    """Queue every weight under `src_prefix.` for `dst_attr.`; False when there is none.

    With `resized` (blocks matched automatically, not named by the user), a block whose weights do
    not fit is left out and listed there instead of stopping the run: replacing the head of a
    pretrained network with one for other classes is the usual fine-tuning move, not a mistake.
    """
    start = src_prefix + "." if src_prefix else ""
    if resized is not None and any(
            f"{dst_attr}.{key[len(start):]}" not in own
            or tuple(own[f"{dst_attr}.{key[len(start):]}"].shape) != tuple(value.shape)
            for key, value in weights.items() if key.startswith(start)):
        resized.append(block)
        return False
    found = False
    for key, value in weights.items():
        if not key.startswith(start):
            continue
        rest = key[len(start):]
        target_key = f"{dst_attr}.{rest}"
        if target_key not in own:
            places = ", ".join(k[len(dst_attr) + 1:] for k in own if k.startswith(dst_attr + "."))
            raise SetupError(f"{path}: block '{block}' has no place for weight '{key}' (it has {places}); "
                             "is it still the same kind of block?")
        if tuple(own[target_key].shape) != tuple(value.shape):
            raise SetupError(
                f"{path}: block '{block}' weight '{rest}' has shape {tuple(value.shape)} in the checkpoint "
                f"but {tuple(own[target_key].shape)} here (key '{key}'); give the block the same sizes as "
                "in the weights you copy from, or leave it out")
        if weights_file.dtype_kind(own[target_key]) != weights_file.dtype_kind(value):
            raise weights_file.WeightsFileError(
                path, f"block '{block}' weight '{rest}' holds {value.dtype} values in the file but needs "
                      f"{own[target_key].dtype} (key '{key}')")
        updates[target_key] = value
        found = True
    return found


def _summarise(weights: dict[str, torch.Tensor], limit: int = 12) -> str:
    """'conv1 (2 tensors), fc (2 tensors), ...': the top-level names a file holds."""
    counts: dict[str, int] = {}
    for key in weights:
        head = key.split(".")[0]
        counts[head] = counts.get(head, 0) + 1
    items = [f"{name} ({n} tensor{'s' if n != 1 else ''})" for name, n in list(counts.items())[:limit]]
    more = len(counts) - limit
    return ", ".join(items) + (f", and {more} more" if more > 0 else "") if items else "nothing"
