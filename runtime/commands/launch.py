"""`deepwire train --gpus N` / `--nproc N`: start N training processes with torchrun on this machine.

The command turns into

    python -m torch.distributed.run --standalone --nproc_per_node N -m runtime.cli train PROJECT ... --out DIR

(the same arguments, less --gpus/--nproc, with the run folder fixed here so
every process agrees on it), started through runtime.lifeline so that
torchrun and its processes die with this one, even when it is SIGKILLed.
This process waits for it and hands on Ctrl+C and SIGTERM, so they (and a
"stop" line on stdin) reach the training processes as they reach a single
one; rank 0 writes the run folder and the events. torchrun's temp folders
(torchelastic_*) go into a folder of this process's own (TMPDIR), removed
when it ends, or by the next launch when it was killed.
"""

from __future__ import annotations

import argparse
import os
import sys

# train options passed on unchanged: attribute -> flag (None values are left out)
PASSED_ON = {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "seed": "--seed",
             "resume": "--resume", "events": "--events", "max_seconds": "--max-seconds",
             "threads": "--threads", "init": "--init", "init_blocks": "--init-blocks",
             "workers": "--workers",
             "data": "--data"}
FLAGS_PASSED_ON = {"quiet": "--quiet", "from_scratch": "--from-scratch"}  # store_true options
# what the launcher itself decides for every process
DECIDED_HERE = {"project", "device", "out", "gpus", "nproc", "help"}


def processes_wanted(args: argparse.Namespace, cuda_devices: int | None = None) -> int | str:
    """How many processes to start (1: train here), or a message saying why the request cannot work."""
    if os.environ.get("WORLD_SIZE"):
        return 1  # already one of torchrun's processes
    if args.nproc is not None:
        if args.nproc < 1:
            return f"--nproc must be 1 or more; got {args.nproc}"
        if args.device not in (None, "cpu", "auto"):
            return "--nproc starts CPU processes (gloo); for GPUs use --gpus N"
        return args.nproc
    if args.gpus is None:
        return 1
    if args.gpus < 1:
        return f"--gpus must be 1 or more; got {args.gpus}"
    if args.device not in (None, "cuda", "auto"):
        return f"--gpus trains on CUDA GPUs; it does not go with --device {args.device}"
    if cuda_devices is None:
        import torch

        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if args.gpus > cuda_devices:
        have = f"only {cuda_devices}" if cuda_devices else "none (or PyTorch was installed without CUDA)"
        return (f"--gpus {args.gpus} asks for {args.gpus} CUDA GPUs, but this machine has {have}; "
                f"use --gpus {cuda_devices}" if cuda_devices else
                f"--gpus {args.gpus} asks for CUDA GPUs, but this machine has {have}; leave out --gpus to "
                "train on the CPU, or --nproc N for several CPU processes")
    return args.gpus


def torchrun_command(args: argparse.Namespace, processes: int, out: str | None) -> list[str]:
    """The full command line that starts `processes` training processes."""
    device = "cpu" if args.nproc is not None else "cuda"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "runtime.cli", "train", args.project, "--device", device]
    for attribute, flag in PASSED_ON.items():
        value = getattr(args, attribute, None)
        if value is not None:
            command += [flag, str(value)]
    if out is not None and not args.resume:
        command += ["--out", str(out)]
    command += [flag for attribute, flag in FLAGS_PASSED_ON.items() if getattr(args, attribute, False)]
    return command


def launch_processes(args: argparse.Namespace, processes: int, out: str | None) -> int:
    from runtime.lifeline import child_environment, private_tempdir

    command = torchrun_command(args, processes, out)
    command[1:3] = ["-m", "runtime.lifeline", "torch.distributed.run"]  # torchrun dies with this process
    env = child_environment()
    if args.threads is None and "OMP_NUM_THREADS" not in env:
        from runtime.train.accelerate import threads_per_process

        # the machine's cores shared by the processes (torchrun would pick 1 and say so)
        env["OMP_NUM_THREADS"] = str(threads_per_process(processes))
    if not args.quiet and args.events is None:
        print(f"deepwire: starting {processes} training processes with torchrun", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    with private_tempdir("torchrun") as scratch:  # torchelastic's folders go here, and go with it
        env["TMPDIR"] = str(scratch)
        return run_forwarding_signals(command, env)


def run_forwarding_signals(command: list[str], env: dict[str, str]) -> int:
    """Run torchrun in a session of its own and pass it SIGINT and SIGTERM exactly once.

    Its own session: a terminal's Ctrl+C reaches only this process, which hands it on once, so
    each training process sees one Ctrl+C (stop and save), not two (interrupt at once).
    """
    import signal
    import subprocess

    posix = os.name == "posix"
    child = subprocess.Popen(command, env=env, start_new_session=posix)

    def forward(signum, frame) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    watched = (signal.SIGINT, signal.SIGTERM) if posix else ()
    previous = {sig: signal.signal(sig, forward) for sig in watched}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:  # this process is being torn down: never leave torchrun behind
            child.kill()
            child.wait()
    return 128 - code if code < 0 else code
