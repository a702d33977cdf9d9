"""Absurdly large blocks are an analysis error on the block, found before torch allocates anything.

Each case is a network that passes shape inference but whose weights could never fit: analysis
names the block and the figure, `check` exits 1 saying so, and export / preview / train refuse it
the same way (they refuse any project with errors) instead of dying inside torch's constructors.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from graph.memory import MEMORY_ENV, human_bytes, machine_memory, weight_diagnostics
from graph.project_io import save_project
from graph.validate import analyse
from runtime.cli import main
from tests.test_train_fixtures import REGISTRY, chain, project

BOMBS = {  # name -> (blocks, the block that is too large)
    "linear": ([("in", "VectorInput", {"features": 64}), ("big", "Linear", {"features": 10**7}),
                ("huge", "Linear", {"features": 10**7}), ("fc", "Linear", {"features": 10}),
                ("head", "ClassificationHead", {"classes": 10})], "huge"),
    "embedding": ([("in", "TokenInput", {"length": 8, "vocab_size": 10**7}),
                   ("emb", "Embedding", {"vocab_size": 10**7, "dim": 65536}), ("flat", "Flatten", {}),
                   ("fc", "Linear", {"features": 10}), ("head", "ClassificationHead", {"classes": 10})],
                  "emb"),
    "lstm": ([("in", "SequenceInput", {"length": 8, "features": 4}),
              ("rnn", "LSTM", {"hidden_size": 65536, "num_layers": 4, "output": "last"}),
              ("fc", "Linear", {"features": 10}),
              ("head", "ClassificationHead", {"classes": 10})], "rnn"),
    "conv": ([("in", "ImageInput", {"channels": 1, "height": 8, "width": 8}),
              ("c1", "Conv2d", {"channels": 65536, "kernel_size": 1}),
              ("c2", "Conv2d", {"channels": 65536, "kernel_size": 3, "padding": 1}), ("flat", "Flatten", {}),
              ("fc", "Linear", {"features": 10}), ("head", "ClassificationHead", {"classes": 10})], "c2"),
}


@pytest.fixture(autouse=True)
def _a_16_gb_machine(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, str(16 * 10**9))


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_analysis_puts_the_error_on_the_block_with_the_figure(name):
    blocks, culprit = BOMBS[name]
    diags = [d for d in analyse(chain("model", blocks), REGISTRY).diagnostics if d.code == "too_large"]
    assert culprit in {d.block for d in diags}
    message = next(d.message for d in diags if d.block == culprit)
    assert f"'{culprit}'" in message and "of weights" in message and "16.0 GB of memory" in message
    assert all(d.is_error for d in diags)


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main(list(argv))
    return rc, out.getvalue()


@pytest.mark.parametrize("command", ["check", "export", "preview", "train"])
@pytest.mark.parametrize("name", ["linear", "conv"])
def test_every_command_that_builds_refuses_before_building(tmp_path, name, command):
    blocks, culprit = BOMBS[name]
    path = tmp_path / "bomb.dw.json"
    save_project(project(chain("model", blocks)), path)
    argv = {"check": ["check", str(path)],
            "export": ["export", str(path), "-o", str(tmp_path / "m.py")],
            "preview": ["preview", str(path), "--block", "fc", "--out", str(tmp_path / "p.npz")],
            "train": ["train", str(path), "--quiet", "--out", str(tmp_path / "run")]}[command]
    rc, text = _cli(*argv)
    assert rc in (1, 2) and "Traceback" not in text, text
    assert f"'{culprit}': " in text and "of weights" in text and "more than half of this machine's" in text
    assert not (tmp_path / "m.py").exists()


def test_many_blocks_that_fit_alone_can_still_be_too_many_together(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, str(10**6))  # weights may take 500 KB
    blocks = [("in", "VectorInput", {"features": 100})] + [(f"fc{i}", "Linear", {"features": 100})
                                                             for i in range(20)]
    blocks.append(("head", "ClassificationHead", {"classes": 100}))
    analysis = analyse(chain("model", blocks), REGISTRY)
    diags = weight_diagnostics(analysis.network, REGISTRY, analysis.inference)
    assert [d.block for d in diags] == [None]
    assert "network 'model': 808.0 KB of weights (202,000 parameters)" in diags[0].message


def test_the_bundled_examples_fit_a_small_machine(monkeypatch):
    from graph.examples import example_path
    from graph.project_io import load_project

    monkeypatch.setenv(MEMORY_ENV, str(2 * 10**9))
    for name in ("digits_cnn", "char_transformer", "sine_classes_gru", "digits_gan"):
        for net in load_project(example_path(name), REGISTRY).networks:
            assert not [d for d in analyse(net, REGISTRY).diagnostics if d.code == "too_large"]


def test_machine_memory_is_read_without_torch(monkeypatch):
    monkeypatch.delenv(MEMORY_ENV)
    assert machine_memory() > 10**8
    assert human_bytes(40 * 10**9) == "40.0 GB" and human_bytes(999) == "999 bytes"
