"""Sequence to sequence: the text-pair sources, the metrics, greedy and beam decoding, the recipe, evaluation,
prediction and export of a trained run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from graph.blocks import default_registry
from graph.examples import resolve_project
from graph.project_io import load_project, loads_project
from graph.training_config import TrainingConfig
from runtime.cli import main
from runtime.data import DataError, load_dataset
from runtime.data.parallel import BOS, EOS, PAD, SPECIALS, UNK, date_pairs, decode_ids
from runtime.train.decoding import (
    beam_decode,
    beam_decode_batch,
    character_error_rate,
    exact_match,
    greedy_decode,
    levenshtein,
)
from runtime.train.errors import SetupError

# --- metrics against hand-computed values ---------------------------------------------------------


def test_levenshtein_counts_insertions_deletions_and_substitutions():
    assert levenshtein("kitten", "sitting") == 3  # k->s, e->i, +g
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "") == 3
    assert levenshtein("2021-02-03", "2021-02-03") == 0
    assert levenshtein("2021-2-03", "2021-02-03") == 1  # one missing 0


def test_character_error_rate_is_edits_over_reference_characters_and_exact_match_a_share():
    predicted = ["2021-02-03", "2021-2-03", "1999-12-52", ""]
    reference = ["2021-02-03", "2021-02-03", "1999-12-25", "abcd"]
    # edits 0 + 1 + 2 + 4 = 7 over 10 + 10 + 10 + 4 = 34 reference characters
    assert character_error_rate(predicted, reference) == pytest.approx(7 / 34)
    assert exact_match(predicted, reference) == pytest.approx(1 / 4)
    assert character_error_rate(["ab"], ["ab"]) == 0.0
    assert character_error_rate(["abcdef"], ["a"]) == pytest.approx(5.0)  # can exceed 1


# --- decoding on hand-built models ----------------------------------------------------------------

A, B_ = 4, 5  # two ordinary tokens after the four special ones


class TableModel(nn.Module):
    """Scores of step t depend only on the decoder's token at t (a causal bigram model)."""

    def __init__(self, table: dict[int, dict[int, float]], vocab: int = 6):
        super().__init__()
        scores = torch.full((vocab, vocab), -1e9)
        for token, probabilities in table.items():
            for nxt, p in probabilities.items():
                scores[token, nxt] = float(np.log(p))
        self.register_buffer("scores", scores)

    def forward(self, source, decoder):
        return self.scores[decoder]  # (B, T, vocab)


def test_greedy_takes_the_best_token_each_step_and_pads_after_the_end():
    # BOS -> A (0.6) or B (0.4); A -> EOS (0.4) or A, B (0.3 each); B -> EOS (1.0)
    model = TableModel({BOS: {A: 0.6, B_: 0.4}, A: {EOS: 0.4, A: 0.3, B_: 0.3}, B_: {EOS: 1.0}})
    source = torch.zeros(2, 3, dtype=torch.long)
    out = greedy_decode(model, source, 5, BOS, EOS, PAD)
    assert out.tolist() == [[A, EOS, PAD, PAD, PAD]] * 2


def test_beam_finds_the_more_likely_answer_greedy_misses():
    model = TableModel({BOS: {A: 0.6, B_: 0.4}, A: {EOS: 0.4, A: 0.3, B_: 0.3}, B_: {EOS: 1.0}})
    source = torch.zeros(1, 3, dtype=torch.long)
    # greedy: A then EOS, probability 0.6 x 0.4 = 0.24; beam: B then EOS, 0.4 x 1.0 = 0.4
    ids, score = beam_decode(model, source, 5, BOS, EOS, PAD, beam=2)
    assert ids == [B_, EOS] and score == pytest.approx(np.log(0.4), abs=1e-6)
    ids, score = beam_decode(model, source, 5, BOS, EOS, PAD, beam=1)  # beam 1 is greedy
    assert ids == [A, EOS] and score == pytest.approx(np.log(0.24), abs=1e-6)


def test_beam_of_a_batch_equals_each_row_alone_and_an_answer_without_end_competes():
    class SourceTable(nn.Module):  # row 0 behaves like the table above, row 1 repeats A forever
        def __init__(self):
            super().__init__()
            self.first = TableModel({BOS: {A: 0.6, B_: 0.4}, A: {EOS: 0.4, A: 0.3, B_: 0.3}, B_: {EOS: 1.0}})
            self.second = TableModel({BOS: {A: 1.0}, A: {A: 1.0}})

        def forward(self, source, decoder):
            pick = source[:, :1, None].float()  # (B, 1, 1): 0 or 1
            return (1 - pick) * self.first(source, decoder) + pick * self.second(source, decoder)

    model = SourceTable()
    source = torch.tensor([[0, 0], [1, 1]])
    both = beam_decode_batch(model, source, 4, BOS, EOS, PAD, beam=3)
    assert both[0][0] == [B_, EOS]
    assert both[1][0] == [A, A, A, A] and both[1][1] == pytest.approx(0.0, abs=1e-6)  # never ends
    assert beam_decode(model, source[:1], 4, BOS, EOS, PAD, 3)[0] == both[0][0]


# --- the data sources -----------------------------------------------------------------------------

def _config(**changes) -> TrainingConfig:
    return TrainingConfig({"recipe": "seq2seq", "val_fraction": 0.25, **changes})


def test_dates_are_the_same_for_a_seed_and_written_five_ways():
    assert date_pairs(50, 3) == date_pairs(50, 3) != date_pairs(50, 4)
    pairs = dict(date_pairs(3000, 0))
    import datetime

    for source, target in pairs.items():
        day = datetime.date.fromisoformat(target)
        assert source in (f"{day.day} {day:%b} {day.year}", f"{day:%d/%m/%Y}",
                          f"{day:%B} {day.day}, {day.year}", f"{day.day} {day:%B} {day.year}",
                          f"{day:%d.%m.%Y}")
    assert any("/" in s for s in pairs) and any("," in s for s in pairs) and any("." in s for s in pairs)


def test_dates_dataset_pads_sources_and_ends_targets():
    from runtime.data.pipeline import load_dataset as load

    data = load(_spec("dates", count=40), _config(), seed=0, input_shape=(20,), input_kind="tokens",
                target_length=11)
    assert data.target_kind == "translation" and data.vocab[:4] == SPECIALS
    assert data.train.inputs.shape == (30, 20) and data.train.targets.shape == (30, 11)
    assert data.val.inputs.shape == (10, 20)
    targets = data.train.targets
    assert (targets[:, 10] == EOS).all()  # ISO dates: ten characters, then the end
    text = decode_ids(targets[0], data.vocab)
    assert len(text) == 10 and text[4] == "-" and text[7] == "-"
    assert data.num_classes == len(data.vocab)


def _spec(source, **options):
    from graph.training_config import DataSpec

    return DataSpec(source, options)


def _load_pairs(path: Path, source_length=8, target_length=6, **config):
    return load_dataset(_spec("parallel_text", path=str(path)), _config(**config), seed=0,
                        input_shape=(source_length,), input_kind="tokens", target_length=target_length)


def test_parallel_text_reads_pairs_and_builds_the_vocabulary_from_the_training_split(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("abc\tcba\nhello\tolleh\nxy\tyx\nzz\tzz\n", encoding="utf-8")
    data = _load_pairs(path, val_fraction=0.25)
    assert len(data.train) == 3 and len(data.val) == 1
    vocab = data.vocab
    train_text = "".join(decode_ids(row, vocab) for row in data.train.inputs)
    assert sorted(set(vocab[4:])) == vocab[4:] and set(vocab[4:]) == set(train_text)
    source = data.train.inputs[0]
    assert source.dtype == np.int64 and (source[len(decode_ids(source, vocab)):] == PAD).all()
    # the validation pair may hold characters training never saw: UNK
    assert set(data.val.inputs[0].tolist()) <= set(range(len(vocab)))
    assert data.extra["warnings"] == []


def test_parallel_text_skips_bad_lines_naming_file_and_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"abc\tcba\n"  # 1 fine
                     b"\n"  # 2 blank
                     b"no tab here\n"  # 3 ragged
                     b"a\tb\tc\n"  # 4 two tabs
                     b"\tempty\n"  # 5 empty source
                     b"much too long a source\tx\n"  # 6 overlong source
                     b"ok\ttoo long!\n"  # 7 overlong target (at most 5 characters)
                     b"caf\xe9\tbad\n"  # 8 Latin-1, not UTF-8
                     b"de\tfg\r\n"  # 9 fine, Windows line end
                     b"hi\tih")  # 10 fine, no final line end
    data = _load_pairs(path, val_fraction=0.0)
    assert len(data.train) == 3
    assert sorted(decode_ids(row, data.vocab) for row in data.train.targets) == ["cba", "fg", "ih"]
    warning, = data.extra["warnings"]
    assert warning.startswith("pairs.tsv: skipped 7 line(s): ")
    for part in ("1 blank (pairs.tsv:2)", "without a tab between source and target (pairs.tsv:3)",
                 "exactly one tab", "pairs.tsv:4", "1 with an empty source or target (pairs.tsv:5)",
                 "longer than the network's 8 characters", "pairs.tsv:6", "longer than 5 characters",
                 "pairs.tsv:7", "1 not valid UTF-8 text (save the file as UTF-8) (pairs.tsv:8)"):
        assert part in warning, part


def test_parallel_text_without_usable_pairs_is_refused_with_the_reasons(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.tsv: no usable source<TAB>target pairs: .*pairs.tsv:1, "
                                        r"pairs.tsv:2"):
        _load_pairs(path)
    with pytest.raises(DataError, match="does not exist"):
        _load_pairs(tmp_path / "missing.tsv")


def test_text_pairs_need_the_seq2seq_recipe(tmp_path):
    with pytest.raises(DataError, match="choose the seq2seq recipe"):
        load_dataset(_spec("dates"), TrainingConfig({"recipe": "language_model"}), seed=0,
                     input_shape=(20,), input_kind="tokens")


# --- the recipe -----------------------------------------------------------------------------------

def tiny_project(dim=16, count=600, epochs=3, **changes) -> dict:
    """The bundled example made small: fast enough for the default suite."""
    data = json.loads(resolve_project("dates_seq2seq").read_text(encoding="utf-8"))
    data["id"] = "test-tiny-dates"
    data["data"]["options"]["count"] = count
    data["training"].update({"epochs": epochs, "lr": 0.01, "val_fraction": 0.2, "stats_every": 0, **changes})
    for block in data["networks"][0]["blocks"]:
        if block["type"] == "Embedding":
            block["params"]["dim"] = dim
        if block["type"] in ("TransformerEncoderBlock", "TransformerDecoderBlock"):
            block["params"].update({"heads": 2, "feedforward": 2 * dim})
    return data


def _write(tmp_path: Path, data: dict, name="tiny.dw.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _train(path: Path, out: Path, *extra: str) -> int:
    return main(["train", str(path), "--out", str(out), "--quiet", "--device", "cpu", "--threads", "1",
                 *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seq2seq")
    run = folder / "run"
    assert _train(_write(folder, tiny_project()), run) == 0
    return run


def test_the_recipe_learns_on_tiny_data_and_reports_decoding_metrics(trained):
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text("utf-8").splitlines()]
    epochs = [r for r in records if r["type"] == "epoch"]
    validations = [r for r in records if r["type"] == "validation"]
    assert len(epochs) == 3 and epochs[-1]["loss"] < 0.8 * epochs[0]["loss"]
    assert {"loss", "accuracy", "exact_match", "cer"} <= set(validations[-1])
    assert 0 <= validations[-1]["exact_match"] <= 1 and validations[-1]["cer"] >= 0
    summary = json.loads((trained / "summary.json").read_text("utf-8"))
    assert summary["monitor"] == "exact_match"
    assert summary["best_metric"] == max(v["exact_match"] for v in validations)  # higher is better
    sample = (trained / "samples" / "epoch_003.txt").read_text("utf-8")
    assert sample.count("\t->\t") == 8


def _setup_error(tmp_path: Path, data: dict) -> str:
    from runtime.build import build_models
    from runtime.train.data import compile_for_training, load_project_data
    from runtime.train.device import Precision
    from runtime.train.recipes import RecipeSetup, make_recipe

    registry = default_registry()
    project = loads_project(json.dumps(data), registry)
    with pytest.raises(SetupError) as err:
        compiled = compile_for_training(project, registry)
        dataset = load_project_data(project, registry, compiled=compiled)
        models, _ = build_models(project, registry, compiled)
        device = torch.device("cpu")
        make_recipe(RecipeSetup(project, compiled, models, dataset, project.training, device,
                                Precision(device, False), []))
    return str(err.value)


def _blocks(data: dict) -> dict:
    return {b["name"]: b for b in data["networks"][0]["blocks"]}


def test_networks_that_do_not_fit_the_recipe_get_messages_naming_the_block(tmp_path):
    data = tiny_project()
    for name in ("next_char_scores", "next_char"):
        key = "features" if name == "next_char_scores" else "classes"
        _blocks(data)[name]["params"][key] = 30
    assert "'next_char' scores only 30; set its classes (and the layer before it) to 45" in \
        _setup_error(tmp_path, data)
    data = tiny_project()
    _blocks(data)["decoder"]["params"]["causal"] = False
    message = _setup_error(tmp_path, data)
    assert "block 'decoder' (TransformerDecoderBlock) on the decoder's path has causal off" in message
    data = tiny_project()
    _blocks(data)["target_so_far"]["params"]["vocab_size"] = 40
    _blocks(data)["target_embedding"]["params"]["vocab_size"] = 40
    message = _setup_error(tmp_path, data)
    assert "input block 'target_so_far' allows ids below 40; set its vocab_size" in message
    from types import SimpleNamespace

    from runtime.train.data import seq2seq_lengths

    one = SimpleNamespace(network="model", input_names=["source"], input_types=["TokenInput"],
                          input_shapes=[(20,)])
    with pytest.raises(SetupError, match=r"needs network 'model' to have exactly two Token ids inputs, .* "
                                         r"it has 'source' \(TokenInput\)$"):
        seq2seq_lengths(one)
    two = SimpleNamespace(network="model", input_names=["source", "so_far"],
                          input_types=["TokenInput", "TokenInput"], input_shapes=[(20,), (11,)])
    assert seq2seq_lengths(two) == ((20,), (11,))


# --- evaluation, prediction and export of a trained run -------------------------------------------

def test_evaluation_writes_greedy_and_beam_metrics_and_examples_worst_first(trained):
    assert main(["evaluate", str(trained)]) == 0
    result = json.loads((trained / "evaluation.json").read_text("utf-8"))
    assert result["kind"] == "seq2seq" and result["beam_size"] == 4
    metrics = result["metrics"]
    assert {"exact_match", "cer", "beam_exact_match", "beam_cer", "accuracy"} <= set(metrics)
    rows = result["examples"]
    assert rows and {"source", "target", "greedy", "beam", "cer"} <= set(rows[0])
    errors = [row["cer"] for row in rows]
    assert errors == sorted(errors, reverse=True)
    for row in rows:
        assert row["cer"] == pytest.approx(levenshtein(row["greedy"], row["target"]) / len(row["target"]))
    decoded = result["decoded"]
    wrong = sum(row["greedy"] != row["target"] for row in rows)
    if wrong < len(rows):  # every mistake is listed when the table has room for them
        assert metrics["exact_match"] == pytest.approx(1 - wrong / decoded)
    assert main(["evaluate", str(trained), "--beam", "2"]) == 0
    assert json.loads((trained / "evaluation.json").read_text("utf-8"))["beam_size"] == 2
    assert main(["evaluate", str(trained), "--beam", "0"]) == 2


def test_translate_and_predict_agree_with_the_recipe(trained, capsys):
    from runtime.evaluate import open_run, translate, translate_with
    from runtime.predict import open_predictor

    recipe = open_run(trained).recipe
    predictor = open_predictor(trained)
    for text in ("3 Feb 2021", "February 3, 2021", "25.12.1999"):
        assert translate(trained, text) == translate_with(recipe, text) == predictor.translate(text)
        assert translate_with(recipe, text, 3) == predictor.translate(text, 3)
    capsys.readouterr()
    assert main(["predict", str(trained), "--text", "3 Feb 2021", "--json", "--beam", "2"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row == {"input": "text '3 Feb 2021'", "translation": predictor.translate("3 Feb 2021", 2),
                   "beam": 2}
    assert main(["predict", str(trained), "--text", "x" * 21]) == 2
    assert "reads at most 20" in capsys.readouterr().err


def test_the_exported_module_translates_as_the_run_does(trained, tmp_path):
    from runtime.predict import open_predictor

    out = tmp_path / "dates.py"
    assert main(["export", str(trained / "project.dw.json"), "--format", "python", "-o", str(out),
                 "--weights", str(trained)]) == 0
    spec = importlib.util.spec_from_file_location("exported_dates", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.DatesSeq2Seq()  # the class is named after the project
    model.load_state_dict(torch.load(out.with_suffix(".pt"), weights_only=True))
    predictor = open_predictor(trained)
    for text in ("3 Feb 2021", "03/02/2021", "July 14, 1989", "1 Jan 2000"):
        assert module.translate(model, text) == predictor.translate(text)
    assert module.decode(module.encode("12 May")[0]) == "12 May"
    assert module.VOCAB[:4] == SPECIALS and (module.PAD, module.BOS, module.EOS, module.UNK) == (0, 1, 2, 3)
    assert UNK == 3


@pytest.mark.slow
def test_onnx_export_decodes_as_the_python_model(trained, tmp_path):
    import onnxruntime

    from runtime.predict import open_predictor

    out = tmp_path / "dates.onnx"
    assert main(["export", str(trained / "project.dw.json"), "--format", "onnx", "-o", str(out),
                 "--weights", str(trained)]) == 0
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def onnx_model(source, decoder):
        return torch.as_tensor(session.run(None, {names[0]: source.numpy(), names[1]: decoder.numpy()})[0])

    predictor = open_predictor(trained)
    from runtime.data.parallel import encode_text

    vocab = list(predictor.prep.vocab)
    index = {ch: i for i, ch in enumerate(vocab) if i > UNK}
    texts = ["3 Feb 2021", "03/02/2021", "July 14, 1989", "9.11.2033"]
    source = torch.as_tensor(np.stack([encode_text(t, index, 20) for t in texts]))
    got = greedy_decode(onnx_model, source, 11, BOS, EOS, PAD)
    assert [decode_ids(row, vocab) for row in got.tolist()] == [predictor.translate(t) for t in texts]


@pytest.mark.slow
def test_the_bundled_example_reaches_its_stated_exact_match(tmp_path):
    """The README's figure: deepwire train dates_seq2seq, best validation exact match >= 0.95."""
    run = tmp_path / "run"
    assert _train(Path("dates_seq2seq"), run) == 0
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert summary["best_metric"] >= 0.95, summary["best_metric"]


def test_the_bundled_example_loads_with_its_two_inputs_in_order(registry):
    project = load_project(resolve_project("dates_seq2seq"), registry)
    assert project.training.recipe == "seq2seq" and project.data.source == "dates"
    inputs = [b for b in project.networks[0].blocks.values() if b.type == "TokenInput"]
    assert [b.name for b in inputs] == ["source", "target_so_far"]
    assert [b.params["length"] for b in inputs] == [20, 11]


def test_the_training_script_trains_with_teacher_forcing(tmp_path):
    import os
    import subprocess
    import sys

    project = _write(tmp_path, tiny_project(count=300))
    script = tmp_path / "train_dates.py"
    assert main(["export", str(project), "--format", "script", "-o", str(script)]) == 0
    text = script.read_text("utf-8")
    assert "model(x, decoder_input(y))" in text and "nn.CrossEntropyLoss(ignore_index=PAD)" in text
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), "--epochs", "2"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    losses = [float(line.split("train_loss ")[1].split()[0]) for line in done.stdout.splitlines()
              if line.startswith("epoch ")]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert "val_accuracy" in done.stdout and script.with_suffix(".pt").is_file()


def test_the_evaluation_window_shows_examples_and_translates(trained, qtbot):
    from studio.runs.evaluation import EvaluationView

    assert main(["evaluate", str(trained)]) == 0
    view = EvaluationView(trained)
    qtbot.addWidget(view)
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == ["Examples", "Translate"]
    result = json.loads((trained / "evaluation.json").read_text("utf-8"))
    rows = result["examples"]
    assert view.examples.rowCount() == len(rows)
    assert [view.examples.item(0, c).text() for c in range(4)] == \
        [rows[0]["source"], rows[0]["target"], rows[0]["greedy"], rows[0]["beam"]]
    view.source_text.setText("3 Feb 2021")
    view.beam_size.setValue(2)
    view.translate()
    qtbot.waitUntil(lambda: view.process is None, timeout=60_000)
    from runtime.predict import open_predictor

    assert view.translation.text() == open_predictor(trained).translate("3 Feb 2021", 2)
    view._translated(2, "", "deepwire: --text: 30 characters; this model reads at most 20\n")
    assert view.translation.text() == "Translating failed: --text: 30 characters; this model reads at most 20"


def test_the_data_panel_previews_pairs_as_source_and_target():
    from runtime.data.registry import SOURCES
    from studio.training.data_panel import _read_sample

    sample = _read_sample(SOURCES["dates"], {"count": 30}, "seq2seq", None, (20,))
    lines = sample.text.splitlines()
    assert sample.total == 30 and len(lines) >= 3
    for line in lines:
        source, target = line.split("  →  ")
        assert "<pad>" not in line and len(target) == 10 and target[4] == "-" and source


def test_data_health_names_the_skipped_lines_and_uses_the_network_lengths(tmp_path, registry):
    from runtime.data.health import check_data

    pairs = tmp_path / "pairs.tsv"
    long_target = "x" * 11  # the decoder input of the example has 11 steps: 10 characters and the end
    pairs.write_text(f"3 Feb 2021\t2021-02-03\nno tab\n1 Mar 2000\t{long_target}\n4 May 1990\t1990-05-04\n",
                     encoding="utf-8")
    data = tiny_project()
    data["data"] = {"source": "parallel_text", "options": {"path": str(pairs)}}
    report = check_data(loads_project(json.dumps(data), registry), registry, base_dir=tmp_path)
    assert report.ok and report.samples == 2
    problem, = [p for p in report.problems if p.code == "skipped_lines"]
    assert problem.severity == "warning" and problem.count == 2
    assert "pairs.tsv:2" in problem.message and "longer than 10 characters" in problem.message
    assert "pairs.tsv:3" in problem.message


def test_try_it_shows_a_seq2seq_runs_answer(trained, qtbot):
    from runtime.predict import open_predictor
    from studio.runs.try_it import TryItWindow

    window = TryItWindow(trained, "tokens")
    qtbot.addWidget(window)
    window.entry.setText("14 July 1989")
    window.predict_entry()
    qtbot.waitUntil(lambda: window.process is None, timeout=60_000)
    item = window.results.topLevelItem(0)
    assert item is not None, window.message.text()
    assert item.text(1) == open_predictor(trained).translate("14 July 1989")


def test_check_says_when_a_seq2seq_project_does_not_fit_before_training(tmp_path, capsys):
    data = json.loads(resolve_project("char_transformer").read_text(encoding="utf-8"))
    data["training"]["recipe"], data["data"] = "seq2seq", {"source": "dates", "options": {}}
    assert main(["check", str(_write(tmp_path, data, "one_input.dw.json"))]) == 1
    assert "the seq2seq recipe needs exactly two Token ids inputs, the source text first and the answer " \
           "so far second; network 'model' has 'text' (TokenInput)" in capsys.readouterr().out
    data = tiny_project()
    data["data"] = {"source": "digits", "options": {}}
    assert main(["check", str(_write(tmp_path, data, "digits.dw.json"))]) == 1
    assert "Token ids input 'source': " in capsys.readouterr().out
    assert main(["check", "dates_seq2seq"]) == 0
