"""What one block outputs for a few samples: the data behind the studio's node previews.

The block's output is found by compiling a copy of its network cut after
that block, with an Output head wired to it. Hooks on submodules would miss
activations (the generated forward calls them as plain functions), while
the truncated network runs exactly the generated code up to that block.
Its weights are copied, block by block, from the full network (seeded fresh
weights, or a checkpoint's), so the preview is the real model's output.

For blocks holding an nn.MultiheadAttention (self-attention, Transformer
layers) the attention weights are computed too, by calling that attention
module again on the input it received, with need_weights=True.

The result is plain numpy arrays (capped in size, so the file stays small):
see `Preview` for the fields and `save_preview` for the .npz layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from graph.atomic import atomic_open
from graph.compiler import compile_network
from graph.definitions import registry_for
from graph.model import Block, Edge, Network, Project
from graph.spec import Registry
from runtime.build import load_source

MAX_SAMPLES = 16
MAX_CHANNELS = 64  # feature maps beyond this are left out of the file
MAX_SIDE = 128  # image sides, sequence steps and vector sizes are cut to this
MAX_FEATURES = 256


class PreviewError(ValueError):
    """A block that cannot be previewed, with the reason in words."""


@dataclass
class Preview:
    block: str  # block id
    name: str  # the block's label
    kind: str  # image (N, C, H, W), sequence (N, T, F), vector (N, F), attention, or other
    inputs: np.ndarray  # the network input samples (first input), capped
    output: np.ndarray  # the block's output for them, capped
    shape: tuple[int, ...]  # the output's full shape before capping
    weights: str  # "random" or the checkpoint's path
    source: str  # where the inputs came from ("digits (val)", or "random inputs: why")
    attention: np.ndarray | None = None  # (N, T, S) averaged over heads, rows sum to 1
    notes: list[str] = field(default_factory=list)


def kind_of(shape: tuple[int, ...]) -> str:
    """Kind of a batched output shape: (N, C, H, W) image, (N, T, F) sequence, (N, F) vector."""
    return {4: "image", 3: "sequence", 2: "vector"}.get(len(shape), "other")


def resolve_block(net: Network, wanted: str) -> Block:
    """A block by id, or failing that by its name."""
    if wanted in net.blocks:
        return net.blocks[wanted]
    for block in net.blocks.values():
        if block.name == wanted:
            return block
    raise PreviewError(f"network '{net.name}' has no block '{wanted}' (by id or name)")


def truncated_network(net: Network, block_id: str, registry: Registry) -> tuple[Network, str]:
    """A copy of `net` with only the blocks `block_id` depends on and an Output head after it.

    A head adds no computation, so a head's preview is the value wired into it.
    Returns the network and the block whose output the Output head shows.
    """
    target = block_id
    registry = registry_for(net, registry)  # an instance of a definition is a block type too
    if registry.get(net.blocks[target].type).role == "head":
        wires = net.edges_into(target)
        if not wires:
            raise PreviewError(f"head '{net.blocks[target].name}' has nothing wired into it")
        target = wires[0].src
    keep, todo = set(), [target]
    while todo:  # everything upstream of the target
        bid = todo.pop()
        if bid not in keep:
            keep.add(bid)
            todo += [e.src for e in net.edges_into(bid)]
    blocks = [b for bid, b in net.blocks.items() if bid in keep]
    edges = [e for e in net.edges if e.src in keep and e.dst in keep]
    # a shared module stays shared among the uses kept; the first kept use holds it when its holder goes
    holders = {}
    for b in blocks:
        holders.setdefault(net.owner_of(b.id), b.id)
    copies = [Block(b.id, b.type, b.name, dict(b.params), b.position, b.enabled,
                    shares=holders[net.owner_of(b.id)] if holders[net.owner_of(b.id)] != b.id else None)
              for b in blocks]
    ties = {k: v for k, v in net.ties.items()
            if all(any(key.startswith(bid + ".") for bid in keep) for key in (k, v))}
    cut = Network(net.name, copies, edges, ties=ties)
    cut.library = net.library  # an instance of a definition (a TransformerLayer) needs its definition
    head = cut.new_block_id("preview_out")
    cut.add_block(Block(head, "Output", cut.unique_name("preview_output"), {}))
    cut.connect(Edge(target, head, "x"))
    return cut, target


def _input_batch(project: Project, registry: Registry, net_name: str, info, samples: int,
                 base_dir: Path | None, seed: int) -> tuple[list[torch.Tensor], str]:
    """Inputs for the network: the project's data when it fits, else random ones of the right shape."""
    from runtime.train.recipes.base import INPUT_KINDS

    reason = ""
    if len(info.input_types) == 1 and INPUT_KINDS.get(info.input_types[0]) != "noise":
        try:
            from runtime.train.data import load_project_data

            data = load_project_data(project, registry, base_dir)
            split = data.val if data.val is not None and len(data.val) else data.train
            x = np.array(split.inputs[:samples])  # a copy: torch wants writable memory
            if tuple(x.shape[1:]) == tuple(info.input_shapes[0]):
                dtype = torch.long if INPUT_KINDS[info.input_types[0]] == "tokens" else torch.float32
                which = "val" if split is data.val else "train"
                return [torch.as_tensor(x, dtype=dtype)], f"{data.name} ({which} split)"
            reason = (f"the data's samples are {tuple(x.shape[1:])}, "
                      f"the network wants {tuple(info.input_shapes[0])}")
        except Exception as err:  # any data problem: the preview still works on random inputs
            first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
            reason = f"the data could not load ({first_line})"
    else:
        reason = "this network does not read the data"
    gen = torch.Generator().manual_seed(seed)
    net = project.network(net_name)
    batch = []
    for bid, kind, shape in zip(info.input_blocks, info.input_types, info.input_shapes):
        if INPUT_KINDS.get(kind) == "tokens":
            vocab = int(net.blocks[bid].params.get("vocab_size", 2))
            batch.append(torch.randint(0, vocab, (samples, *shape), generator=gen))
        else:
            batch.append(torch.randn((samples, *shape), generator=gen))
    return batch, f"random inputs: {reason}"


def copy_weights(full: nn.Module, full_names: dict[str, str], cut: nn.Module, cut_names: dict[str, str],
                 full_shared: dict[str, str] | None = None) -> None:
    """Block by block: attribute names may differ between the two generated classes.

    full_shared: the full network's uses of shared modules -> their holders (CompiledNetwork.shared):
    a use whose holder was cut off holds the module in the cut, with the holder's weights."""
    for bid, attr in cut_names.items():
        source = full_names.get(bid) or full_names.get((full_shared or {}).get(bid, ""))
        if source is not None:
            cut.get_submodule(attr).load_state_dict(full.get_submodule(source).state_dict())


def _attention_module(module: nn.Module) -> nn.MultiheadAttention | None:
    for sub in module.modules():
        if isinstance(sub, nn.MultiheadAttention):
            return sub
    return None


def _cap(array: np.ndarray, kind: str) -> np.ndarray:
    if kind == "image":
        return array[:, :MAX_CHANNELS, :MAX_SIDE, :MAX_SIDE]
    if kind == "sequence":
        return array[:, :MAX_SIDE * 4, :MAX_FEATURES]
    if kind == "vector":
        return array[:, :MAX_FEATURES * 4]
    return array.reshape(array.shape[0], -1)[:, :MAX_FEATURES * 4]


def compute_preview(project: Project, registry: Registry, block: str, network: str | None = None,
                    weights: str | Path | None = None, samples: int = 4,
                    base_dir: Path | None = None) -> Preview:
    """The output of `block` (id or name) for `samples` inputs, with random or checkpoint weights."""
    from runtime.export_project import prepare_models

    samples = max(1, min(int(samples), MAX_SAMPLES))
    net = project.network(network)
    chosen = resolve_block(net, block)
    models, compiled = prepare_models(project, registry, weights, [net.name] if weights else None)
    full, full_info = models[net.name], compiled.networks[net.name]
    cut_net, target = truncated_network(net, chosen.id, registry)
    cut_compiled = compile_network(cut_net, registry, name="Preview")
    cut_info = cut_compiled.network()
    cut = getattr(load_source(cut_compiled.source, "deepwire_preview"), cut_info.class_name)()
    copy_weights(full, full_info.module_names, cut, cut_info.module_names, full_info.shared)
    cut.eval()

    inputs, source = _input_batch(project, registry, net.name, cut_info, samples, base_dir, project.seed)
    attention_module = None
    if target in cut_info.module_names:
        attention_module = _attention_module(cut.get_submodule(cut_info.module_names[target]))
    captured: dict = {}
    handle = None
    if attention_module is not None:
        def grab(_module, args, kwargs):
            captured["args"], captured["kwargs"] = args, kwargs
        handle = attention_module.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        # grad stays on: in eval mode under no_grad, Transformer layers take a fused fast path
        # that never calls their attention module, and the hook above would see nothing
        out = cut(*inputs)
    finally:
        if handle is not None:
            handle.remove()
    if isinstance(out, (tuple, list)):
        out = out[0]
    out = out.detach().float()
    kind = kind_of(tuple(out.shape))
    attention = None
    if captured:
        args, kwargs = captured["args"], dict(captured["kwargs"])
        q, k, v = (list(args) + [kwargs.pop(n, None) for n in ("query", "key", "value")])[:3]
        options = {n: kwargs[n] for n in ("attn_mask", "key_padding_mask") if kwargs.get(n) is not None}
        with torch.no_grad():
            _, weights_ = attention_module(q, k, v, need_weights=True, average_attn_weights=True, **options)
        attention = weights_.detach().float().numpy()[:, :MAX_SIDE * 4, :MAX_SIDE * 4]
    preview_kind = "attention" if attention is not None else kind
    notes = [] if target == chosen.id else [f"a head returns its input: showing '{net.blocks[target].name}'"]
    first = inputs[0].detach()
    first = first.float() if first.is_floating_point() else first
    return Preview(
        block=chosen.id, name=chosen.name, kind=preview_kind,
        inputs=_cap(first.numpy(), kind_of(tuple(first.shape))), output=_cap(out.numpy(), kind),
        shape=tuple(out.shape), weights=str(weights) if weights else "random", source=source,
        attention=attention,
        notes=notes,
    )


def save_preview(preview: Preview, out: str | Path) -> Path:
    """Write the preview as an .npz (strings as 0-d unicode arrays, so it loads without pickle)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "block": np.array(preview.block), "name": np.array(preview.name), "kind": np.array(preview.kind),
        "input": preview.inputs, "output": preview.output, "shape": np.array(preview.shape, dtype=np.int64),
        "weights": np.array(preview.weights), "source": np.array(preview.source),
        "notes": np.array("\n".join(preview.notes)),
    }
    if preview.attention is not None:
        arrays["attention"] = preview.attention
    with atomic_open(out, "wb") as stream:  # the studio reads it once the child ends: never half-written
        np.savez(stream, **arrays)
    return out
