"""The training panel's Devices choice (several GPUs via --gpus) and its memory line."""

from __future__ import annotations

import pytest

from studio.training import devices
from studio.training.devices import DevicesChoice, MemoryLine, count_gpus
from studio.training.panel import TrainingPanel
from tests.studio_support import example_document


def test_gpu_count_follows_the_driver_and_cuda_visible_devices(monkeypatch):
    class Listed:
        stdout = "GPU 0: NVIDIA H100 (UUID: a)\nGPU 1: NVIDIA H100 (UUID: b)\nGPU 2: NVIDIA H100 (UUID: c)\n"

    monkeypatch.setattr(devices.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(devices.subprocess, "run", lambda *a, **k: Listed())
    assert count_gpus({}) == 3
    assert count_gpus({"CUDA_VISIBLE_DEVICES": "0,2"}) == 2
    assert count_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == 0
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    assert count_gpus({}) == 0


def test_devices_choice_is_off_with_fewer_than_two_gpus(qtbot):
    one = DevicesChoice(1)
    qtbot.addWidget(one)
    assert not one.isEnabled() and one.count() == 1 and one.launch_args() == ()
    assert "2 or more CUDA GPUs" in one.toolTip() and "one CUDA GPU" in one.toolTip()
    four = DevicesChoice(4)
    qtbot.addWidget(four)
    assert four.isEnabled() and four.itemText(1) == "All 4 GPUs (torchrun)"
    four.setCurrentIndex(1)
    assert four.launch_args() == ("--gpus", "4")


@pytest.fixture
def panel(qtbot, registry, monkeypatch):
    monkeypatch.setattr("studio.training.panel.count_gpus", lambda: 2)
    document = example_document(registry, "digits_cnn")
    widget = TrainingPanel(document)
    widget.prewarm_enabled = False
    qtbot.addWidget(widget)
    return widget


def test_train_with_all_gpus_passes_gpus_to_deepwire_train(panel, monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(panel.worker, "start", lambda *args: started.append(args))
    panel.runs_base = tmp_path
    panel.devices.setCurrentIndex(1)
    assert panel.train()
    assert started[0][3] == ("--gpus", "2")


def test_memory_line_shows_estimate_use_and_peak(panel, tmp_path):
    line = panel.memory_line
    line.on_event({"kind": "started", "processes": 2, "memory_estimate": {"total": 3 * 1024 ** 2}})
    assert line.text() == "Memory estimate: 3.0 MB per GPU"
    line.on_event({"kind": "step", "memory_bytes": 2 * 1024 ** 2})
    assert line.text() == "GPU memory: 2.0 MB (est. 3.0 MB)"
    line.on_event({"kind": "finished", "peak_memory_bytes": int(3.3 * 1024 ** 2)})
    assert line.text() == "GPU peak: 3.3 MB (est. 3.0 MB)"
    fresh = MemoryLine()
    fresh.on_event({"kind": "started", "processes": 1, "memory_estimate": {"total": 1536}})
    fresh.on_event({"kind": "step", "memory_bytes": None})  # CPU: nothing measured, the estimate stays
    assert fresh.text() == "Memory estimate: 1.5 KB"
    panel.resize(700, 600)
    panel.show()
    assert panel.grab().save(str(tmp_path / "panel.png"))
    assert line.isVisible() and line.width() > 200  # spans the form's row: the text fits on one line
