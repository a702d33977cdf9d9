"""The training panel's Devices choice and memory line, without importing torch in the studio.

The GPU count comes from `nvidia-smi -L` (what the driver sees), narrowed by
CUDA_VISIBLE_DEVICES like PyTorch narrows it; no driver tool means no CUDA
GPUs. With two or more, "All N GPUs" makes Train pass `--gpus N`, so
`deepwire train` starts one process per GPU with torchrun.

The memory line shows the pre-training estimate from the started event,
the device memory in use from step events (CUDA only) and the measured peak
from the finished event.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from PySide6.QtWidgets import QComboBox, QLabel, QWidget


def format_bytes(size: float | None) -> str:
    """1536 -> "1.5 KB" (runtime.train.memory has the same; importing it here would import torch)."""
    if size is None:
        return "not measured"
    for unit in ("B", "KB", "MB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def count_gpus(environ=None) -> int:
    """CUDA GPUs this process may use (0 without an NVIDIA driver)."""
    env = os.environ if environ is None else environ
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        listed = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=3).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    count = sum(1 for line in listed.splitlines() if line.startswith("GPU "))
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = min(count, len([v for v in visible.split(",") if v.strip() and v.strip() != "-1"]))
    return count


class DevicesChoice(QComboBox):
    """One device (the settings' device), or all local GPUs with DistributedDataParallel."""

    def __init__(self, gpus: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.addItem("One device", 1)
        if gpus >= 2:
            self.addItem(f"All {gpus} GPUs (torchrun)", gpus)
            self.setToolTip(f"Train on all {gpus} GPUs of this machine, one process each; the batch size "
                            f"is per GPU, so a step sees {gpus} x batch size samples")
        else:
            self.setEnabled(False)
            have = "one CUDA GPU" if gpus == 1 else "no CUDA GPU"
            self.setToolTip(f"Training on several GPUs needs 2 or more CUDA GPUs; this machine has {have}. "
                            "For several machines see the README (torchrun).")

    def launch_args(self) -> tuple[str, ...]:
        processes = int(self.currentData() or 1)
        return ("--gpus", str(processes)) if processes > 1 else ()


class MemoryLine(QLabel):
    """Memory of the run: estimate before training, in use while training, peak at the end."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("", parent)
        self.setWordWrap(True)
        self.estimate: dict = {}
        self.setToolTip("Device memory: the estimate made before training (weights, gradients, optimizer "
                        "state, activations at the batch size, data kept on the GPU) and what the GPU used")

    def on_event(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "started":
            self.estimate = event.get("memory_estimate") or {}
            total = self.estimate.get("total")
            processes = event.get("processes", 1)
            each = " per GPU" if processes > 1 else ""
            self.setText(f"Memory estimate: {format_bytes(total)}{each}" if total else "")
        elif kind == "step" and event.get("memory_bytes") is not None:
            self.setText(f"GPU memory: {format_bytes(event['memory_bytes'])}"
                         + self._versus_estimate())
        elif kind == "finished" and event.get("peak_memory_bytes") is not None:
            self.setText(f"GPU peak: {format_bytes(event['peak_memory_bytes'])}"
                         + self._versus_estimate())

    def _versus_estimate(self) -> str:
        total = self.estimate.get("total")
        return f" (est. {format_bytes(total)})" if total else ""
