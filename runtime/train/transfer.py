"""Transfer learning from the user's own runs: copy chosen blocks' weights, optionally freeze them.

Blocks are matched by block id, the one name that survives renaming a
block or moving it on the canvas. A checkpoint records which submodule
holds each block (`block_modules`), so weights are found even when the
generated attribute names differ between the two projects.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from graph.compiler import CompiledProject
from graph.training_config import TrainingConfig
from runtime.train.checkpoint import load_checkpoint
from runtime.train.errors import SetupError


def _resolve(path_text: str, base_dirs: list[Path]) -> Path:
    path = Path(path_text).expanduser()
    if path.is_absolute():
        return path
    for base in base_dirs:
        if (base / path).is_file():
            return base / path
    return path


def apply_transfer(config: TrainingConfig, models: dict[str, nn.Module], compiled: CompiledProject,
                   base_dirs: list[Path]) -> dict[str, list[str]]:
    """Initialise blocks from config.init_checkpoint; returns {network: [frozen submodule attributes]}."""
    if not config.init_checkpoint:
        return {}
    path = _resolve(config.init_checkpoint, base_dirs)
    state = load_checkpoint(path)
    wanted = [b.strip() for b in config.init_blocks.split(",") if b.strip()]
    sources = state.get("block_modules") or {}
    frozen: dict[str, list[str]] = {}
    copied: set[str] = set()
    for net_name, model in models.items():
        source_net = net_name if net_name in state["models"] else (
            next(iter(state["models"])) if len(state["models"]) == 1 and len(models) == 1 else None)
        if source_net is None:
            continue
        weights = state["models"][source_net]
        source_modules = sources.get(source_net) or {}
        target_modules = compiled.networks[net_name].module_names
        blocks = wanted or [b for b in target_modules if b in source_modules]
        updates: dict[str, torch.Tensor] = {}
        own = model.state_dict()
        for block in blocks:
            if block not in target_modules:
                continue
            src_attr = source_modules.get(block, target_modules[block] if not source_modules else None)
            if src_attr is None:
                continue
            dst_attr = target_modules[block]
            for key, value in weights.items():
                if not key.startswith(src_attr + "."):
                    continue
                target_key = dst_attr + key[len(src_attr):]
                if target_key not in own:
                    raise SetupError(f"{path}: block '{block}' has weight '{key}' that network '{net_name}' "
                                     "has no place for; is it still the same kind of block?")
                if tuple(own[target_key].shape) != tuple(value.shape):
                    raise SetupError(
                        f"{path}: block '{block}' weight '{key[len(src_attr) + 1:]}' has shape "
                        f"{tuple(value.shape)} in the checkpoint but {tuple(own[target_key].shape)} here; "
                        "give the block the same sizes as in the run you copy from, or leave it out")
                updates[target_key] = value
            copied.add(block)
            if config.freeze_init:
                frozen.setdefault(net_name, []).append(dst_attr)
        model.load_state_dict(updates, strict=False)
        for attr in frozen.get(net_name, []):
            getattr(model, attr).requires_grad_(False)
    missing = [b for b in wanted if b not in copied]
    if missing:
        known = sorted({b for mods in sources.values() for b in mods})
        raise SetupError(f"{path}: no weights for block(s) {', '.join(missing)} in this checkpoint, or no "
                         f"such block with weights in the project (the checkpoint has blocks: "
                         f"{', '.join(known) or 'none recorded'}); fix init_blocks")
    if not copied:
        raise SetupError(f"{path}: no block of this project matches a block of the checkpoint by id; "
                         "name the blocks to copy in init_blocks")
    return frozen
