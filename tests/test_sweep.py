"""`deepwire sweep`: finds the better learning rate, survives crashing and invalid trials, resumes.

Tiny MLPs on the bundled digits, one epoch per trial, on one thread.
"""

from __future__ import annotations

import json

import pytest

from graph.project_io import load_project, save_project
from runtime.cli import main
from runtime.sweep.sweep import Sweep, SweepSettings, SweepStop
from tests.test_train_fixtures import REGISTRY, mlp, project, single_thread  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def project_file(tmp_path):
    path = tmp_path / "tiny.dw.json"
    save_project(project(mlp(hidden=16), epochs=1, batch_size=64, log_every=50), path)
    return path


def _space(tmp_path, entries) -> str:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(entries))
    return str(path)


def test_a_sweep_finds_the_better_of_two_learning_rates(project_file, tmp_path, capsys):
    space = _space(tmp_path, [{"target": "training.lr", "choices": [1e-6, 1e-2]}])
    out = tmp_path / "sweep"
    code = main(["sweep", str(project_file), "--space", space, "--sampler", "grid", "--out", str(out),
                 "--events", "jsonl"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "sweep_started" and kinds[-2:] == ["importance", "sweep_finished"]
    assert kinds.count("trial_started") == 2 and kinds.count("trial_finished") == 2
    assert {e["trial"] for e in events if e["kind"] == "validation"} == {0, 1}  # training events, tagged

    results = json.loads((out / "results.json").read_text())
    assert results["best"]["params"] == {"training.lr": 0.01}
    assert [r["params"]["training.lr"] for r in results["trials"]] == [0.01, 1e-6]  # ranked
    good, bad = results["trials"]
    assert good["value"] > 0.6 and bad["value"] < 0.4 and good["state"] == bad["state"] == "COMPLETE"
    best = load_project(out / "best.dw.json", REGISTRY)
    assert best.training.lr == 0.01 and best.name.endswith("(best of sweep)")
    # each trial is an ordinary run folder with its values in the summary
    summary = json.loads((out / f"trial_{good['trial']:04d}" / "summary.json").read_text())
    assert summary["config"]["lr"] == 0.01 and summary["sweep"]["params"] == {"training.lr": 0.01}
    assert (out / f"trial_{good['trial']:04d}" / "best.pt").is_file()
    assert (out / "study.db").is_file()


def test_crashed_and_invalid_trials_are_recorded_as_failed_and_the_sweep_goes_on(project_file, tmp_path,
                                                                                   monkeypatch):
    from runtime.train import trainer

    real_run = trainer.Trainer.run

    def crash_on_one_lr(self):
        if self.project.training.lr == 2e-3:
            raise RuntimeError("boom: injected crash")
        return real_run(self)

    monkeypatch.setattr(trainer.Trainer, "run", crash_on_one_lr)
    settings = SweepSettings(space=[{"target": "training.lr", "choices": [1e-3, 2e-3]},
                                    {"target": "block:fc2.features", "choices": [10, 7]}],
                             trials=10, sampler="grid")
    base = load_project(project_file, REGISTRY)
    results = Sweep.start(base, REGISTRY, tmp_path / "sweep", settings).run()
    rows = {(r["params"]["training.lr"], r["params"]["block:fc2.features"]): r for r in results["trials"]}
    assert len(rows) == 4  # the grid has 4 points, so 10 trials are capped at 4
    assert rows[(1e-3, 10)]["state"] == "COMPLETE" and rows[(1e-3, 10)]["value"] > 0.2
    assert rows[(2e-3, 10)]["state"] == "FAIL" and "boom: injected crash" in rows[(2e-3, 10)]["message"]
    for lr in (1e-3, 2e-3):  # 7 outputs do not fit the 10-class head: a diagnostic, not a crash
        row = rows[(lr, 7)]
        assert row["state"] == "FAIL" and "invalid" in row["message"] and row["epochs"] == 0
    assert results["best"]["params"] == {"training.lr": 1e-3, "block:fc2.features": 10}
    assert results["importance"] == {} and "at least 2 complete" in results["importance_note"]


def test_a_stopped_sweep_resumes_from_its_study(project_file, tmp_path):
    base = load_project(project_file, REGISTRY)
    base.training = base.training.replace(epochs=2)
    settings = SweepSettings(space=[{"target": "training.lr", "low": 1e-3, "high": 1e-2, "log": True}],
                             trials=5, sampler="random", seed=1, prune=False, baseline=False)
    stop = SweepStop()

    def stop_in_second_trial(event):  # the user presses Stop during trial 1's second epoch
        if event["kind"] == "epoch" and event["trial"] == 1:
            stop.set()

    out = tmp_path / "sweep"
    first = Sweep.start(base, REGISTRY, out, settings, [stop_in_second_trial], stop).run()
    assert first["reason"] == "stopped"
    states = {r["trial"]: (r["state"], r["interrupted"]) for r in first["trials"]}
    assert states == {0: ("COMPLETE", False), 1: ("FAIL", True)}
    interrupted = next(r for r in first["trials"] if r["trial"] == 1)

    again = Sweep.resume(out, REGISTRY, trials=3).run()  # two more counted trials: the re-run and one new
    assert again["reason"] == "completed"
    by_number = {r["trial"]: r for r in again["trials"]}
    assert sorted(by_number) == [0, 1, 2, 3]  # numbering continues; earlier trials are kept
    assert by_number[2]["params"] == interrupted["params"] and by_number[2]["state"] == "COMPLETE"
    assert by_number[3]["state"] == "COMPLETE"
    assert by_number[3]["params"] != by_number[0]["params"]  # the sampler did not replay its first value
    for n in range(4):
        assert (out / f"trial_{n:04d}" / "summary.json").is_file()
    assert json.loads((out / "trial_0000" / "summary.json").read_text())["sweep"]["state"] == "COMPLETE"


def test_resume_needs_a_sweep_folder(tmp_path, capsys):
    assert main(["sweep", "--resume", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_trials_run_in_child_processes(project_file, tmp_path, capsys):
    space = _space(tmp_path, [{"target": "training.lr", "choices": [1e-6, 1e-2]}])
    out = tmp_path / "sweep"
    assert main(["sweep", str(project_file), "--space", space, "--sampler", "grid", "--parallel", "2",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["state"] for r in results["trials"]] == ["COMPLETE", "COMPLETE"]
    assert results["best"]["params"] == {"training.lr": 0.01}
    logs = sorted(p.name for p in (out / "logs").iterdir())  # each trial had a process of its own
    assert logs == [f"trial_{n:04d}.{ext}" for n in range(2) for ext in ("json", "log")]
    for n in range(2):
        assert json.loads((out / f"trial_{n:04d}" / "summary.json").read_text())["sweep"]["trial"] == n
    assert "best: trial" in capsys.readouterr().out
