"""The Evaluation view's Robustness tab draws what `deepwire evaluate --attack` wrote, and runs attacks."""

from __future__ import annotations

import json

from studio.runs.evaluation import EvaluationView

CHILD_TIMEOUT_MS = 120_000


def test_the_tab_draws_each_attack_and_runs_a_new_one(digits_cnn_run, qtbot):
    from runtime.adversarial import attack_run

    attack_run(digits_cnn_run, "fgsm", [0.0, 0.1, 0.2])
    view = EvaluationView(digits_cnn_run)
    qtbot.addWidget(view)
    tab = view.robustness
    assert view.tabs.tabText(view.tabs.indexOf(tab)) == "Robustness"
    curves = {c.name(): c for c in tab.plot.getPlotItem().listDataItems()}
    assert set(curves) == {"FGSM", "clean"}
    xs, ys = curves["FGSM"].getData()
    stored = json.loads((digits_cnn_run / "evaluation.json").read_text())["attacks"]["fgsm"]
    assert list(xs) == [0.0, 0.1, 0.2] and list(ys) == [100 * p["accuracy"] for p in stored["curve"]]
    assert [tab.example_eps.itemText(i) for i in range(tab.example_eps.count())] == ["FGSM 0.1", "FGSM 0.2"]
    assert not tab.picture.pixmap().isNull() and tab.caption.text().startswith("Predicted, row by row: ")

    tab.method.setCurrentIndex(1)  # PGD
    tab.eps.setText("0.1")
    tab.run_attack()
    assert not tab.run_button.isEnabled()
    qtbot.waitUntil(lambda: tab.process is None, timeout=CHILD_TIMEOUT_MS)
    assert tab.run_button.isEnabled() and "eps is measured in fraction of the pixel range 0..16" in \
        tab.status.text(), tab.status.text()
    assert {c.name() for c in tab.plot.getPlotItem().listDataItems()} == {"FGSM", "PGD", "clean"}

    tab.eps.setText("0.1, big")
    tab.run_attack()
    qtbot.waitUntil(lambda: tab.process is None, timeout=CHILD_TIMEOUT_MS)
    assert tab.status.text().startswith("The attack failed: --eps takes numbers"), tab.status.text()
    view.close()


def test_the_tab_says_how_the_run_trained_against_attacks(tmp_path):
    from studio.runs.robustness import training_note

    assert training_note(tmp_path) == ""  # no snapshot: nothing to say
    snapshot = tmp_path / "project.dw.json"
    snapshot.write_text(json.dumps({"training": {"recipe": "classification"}}))
    assert training_note(tmp_path).startswith("This run trained without adversarial training. To make it")
    snapshot.write_text(json.dumps({"training": {"adversarial": "pgd", "adversarial_eps": 0.15,
                                                 "adversarial_steps": 5, "adversarial_weight": 1.0}}))
    assert training_note(tmp_path) == ("This run trained adversarially: PGD at eps 0.15, 5 steps, with 100% "
                                       "of each step's loss from perturbed inputs.")
    snapshot.write_text("[1, 2]")  # a damaged snapshot is no reason to fail the tab
    assert training_note(tmp_path) == ""
