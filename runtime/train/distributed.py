"""Training in several processes with PyTorch's own engine (torchrun + DistributedDataParallel).

    torchrun --nproc_per_node=4 -m runtime.cli train PROJECT --batch-size 64   # 4 x 64 = 256 per step
    deepwire train PROJECT --gpus 4                                               # the same, launched for you

torchrun starts one process per device and tells each its place in the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, ...). `Cluster.from_env()`
reads it; the trainer then:

- joins the process group (NCCL for CUDA devices, gloo for CPU), each process
  on its own GPU (cuda:LOCAL_RANK);
- wraps each trained network in DistributedDataParallel, which averages the
  gradients of all processes during backward;
- gives each process its shard of every global batch. All processes draw the
  same shuffled order (same seed); a step's global batch is
  `order[step * G : (step + 1) * G]` with G = batch size x world size, and
  process r takes its every W-th sample starting at r. This is exactly the
  order `torch.utils.data.DistributedSampler` hands out, and with one process
  it is the ordinary single-process order, so a run on W processes with
  batch size B follows the same steps, and reaches the same weights, as a run
  on one process with batch size W x B (up to floating-point rounding; dropout
  and batch norm see per-process batches);
- averages the logged losses over the processes, so every figure it reports is
  the global one; evaluation runs the same on every process, so its metrics are
  the same everywhere;
- lets only rank 0 write: the run folder, metrics, checkpoints, events and the
  progress bar. The other processes train and keep quiet.

Batch size is per process (torchrun's convention): the global batch is batch
size x world size, and the learning rate is used as given; when you add
processes, scale the learning rate with the global batch yourself if you want
the same schedule per sample (the linear scaling rule is a common start).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import nn

from runtime.train.errors import SetupError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Cluster:
    """Where this process stands among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files, events and the progress bar."""
        return self.rank == 0

    @classmethod
    def from_env(cls, environ=None) -> Cluster:
        """The place torchrun gave this process, or a single process when not started by torchrun."""
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            values = {key: int(env.get(key, "0")) for key in ENV_KEYS}
        except ValueError:
            raise SetupError("the torchrun variables RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers; "
                             f"got {', '.join(f'{k}={env.get(k)!r}' for k in ENV_KEYS)}") from None
        world, rank, local = values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"]
        if world < 1 or not 0 <= rank < world or local < 0:
            raise SetupError(f"inconsistent torchrun variables: RANK={rank}, WORLD_SIZE={world}, "
                             f"LOCAL_RANK={local}; start the processes with torchrun")
        return cls(rank, world, local)


def backend_for(device_type: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device_type == "cuda" else "gloo"


def process_device(cluster: Cluster, device: torch.device) -> torch.device:
    """The device of this process: its own GPU (cuda:LOCAL_RANK) when training on CUDA."""
    if device.type != "cuda" or not cluster.distributed:
        return device
    count = torch.cuda.device_count()
    if cluster.local_rank >= count:
        raise SetupError(f"process {cluster.rank} should use GPU {cluster.local_rank}, but this machine has "
                         f"only {count}; start at most {count} processes per machine (--nproc_per_node)")
    return torch.device("cuda", cluster.local_rank)


def join(cluster: Cluster, device: torch.device) -> bool:
    """Join the process group; True when this call created it (so the caller leaves it at the end).

    A no-op for a single process, or when the caller's program joined already.
    """
    if not cluster.distributed:
        return False
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    if device.type == "mps":
        raise SetupError("training on several processes works with CUDA GPUs (NCCL) or on CPU (gloo), "
                         "not with Apple MPS; use --device cpu or a single process")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend_for(device.type), timeout=timedelta(minutes=30),
                                **({"device_id": device} if device.type == "cuda" else {}))
    except Exception as exc:  # noqa: BLE001 - a rendezvous problem: say where, in words
        raise SetupError(f"process {cluster.rank} of {cluster.world_size} could not join the others "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); check "
                         "MASTER_ADDR/MASTER_PORT (or --rdzv_endpoint) and that every machine can reach it"
                         ) from None
    return True


def leave(cluster: Cluster) -> None:
    if not cluster.distributed:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


class DataParallelNetwork(nn.parallel.DistributedDataParallel):
    """DistributedDataParallel that still answers what the network itself offers (e.g. `make_loss()`)."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` wrapped for gradient averaging across processes (unchanged if it has nothing to train)."""
    if not any(p.requires_grad for p in model.parameters()):
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DataParallelNetwork(model, device_ids=ids)


def shard(global_batch: torch.Tensor, cluster: Cluster) -> torch.Tensor:
    """This process's part of a global batch: every W-th sample from its rank (DistributedSampler order)."""
    if not cluster.distributed:
        return global_batch
    return global_batch[cluster.rank::cluster.world_size]


def steps_per_epoch(samples: int, global_batch: int, world_size: int) -> int:
    """Optimizer steps in one epoch.

    A last global batch too small to give every process two samples is left out
    this epoch (an empty shard cannot make a loss, and batch norm breaks on one
    sample); with one process that is a last batch of a single sample.
    """
    steps = -(-samples // global_batch)
    rest = samples % global_batch
    if steps > 1 and rest and rest < 2 * world_size:
        steps -= 1
    return steps


def mean_over_processes(values: torch.Tensor, cluster: Cluster) -> torch.Tensor:
    """The mean of `values` over all processes (every shard has the same size, so it is the global mean)."""
    if not cluster.distributed:
        return values
    import torch.distributed as dist

    total = values.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / cluster.world_size


def any_process(flag: bool, cluster: Cluster, device: torch.device) -> bool:
    """True on every process when `flag` is true on at least one (stop requests, time limits)."""
    if not cluster.distributed:
        return flag
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_weights(models: dict[str, nn.Module], cluster: Cluster) -> None:
    """Give every process rank 0's weights and buffers (after rank 0 loaded a checkpoint)."""
    if not cluster.distributed:
        return
    import torch.distributed as dist

    for model in models.values():
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)


def seed_for(seed: int, cluster: Cluster) -> int:
    """The random seed of this process's own draws (dropout, noise): different per process."""
    return seed + 1000003 * cluster.rank


def quiet_folder(path, resume: bool):
    """The run folder as the processes other than rank 0 see it: readable (for --resume), never written."""
    from pathlib import Path

    from runtime.train.runs import RunFolder

    class QuietRunFolder(RunFolder):
        def __init__(self):
            self.path = Path(path)
            self._metrics = None

        def write_snapshot(self, project_json: str) -> None:
            pass

        def write_model_code(self, source: str) -> None:
            pass

        def open_metrics(self, keep_until_step: int | None = None) -> None:
            pass

        def log(self, record) -> None:
            pass

        def save_checkpoint(self, state, name: str):
            return self.file(name)

        def save_sample(self, filename: str, png, text):
            return self.file("samples") / filename

        def write_summary(self, summary) -> None:
            pass

    return QuietRunFolder()
