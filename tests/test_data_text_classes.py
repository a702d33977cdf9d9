"""Labelled text for text classifiers: the `text_csv` and generated `reviews` sources (text_classes.py).

The ids are checked against the ASCII vocabulary itself, the CSV's labels
against the file, and a small LSTM must learn the reviews' negations and
contrasts well beyond what the opinion words alone allow.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.model import Project
from graph.training_config import DataSpec, TrainingConfig
from runtime.data import DataError
from runtime.data.text import ASCII_VOCAB
from runtime.data.text_classes import NEGATIVE, NOISE_RATE, POSITIVE, encode_texts, generate_reviews
from runtime.train.data import load_project_data
from tests.test_train_fixtures import REGISTRY, chain, run_training


def _decode(ids) -> str:
    return "".join(ASCII_VOCAB[i] for i in ids)


def test_texts_keep_their_last_characters_padded_on_the_left():
    ids = encode_texts(["short", "a much longer text than eight", "curly \u2019quote\u2019 \u00e9"], 8)
    assert ids.dtype == np.int64 and ids.shape == (3, 8)
    assert _decode(ids[0]) == "   short"
    assert _decode(ids[1]) == "an eight"
    assert _decode(ids[2]) == "quote' \ufffd"  # a curly quote folded to ', the e-acute unknown


def test_generated_reviews_are_reproducible_balanced_and_not_decided_by_words_alone():
    texts, labels = generate_reviews(3000, seed=5)
    again, labels_again = generate_reviews(3000, seed=5)
    assert texts == again and (labels == labels_again).all()
    assert generate_reviews(50, seed=6)[0] != texts[:50]
    assert 0.4 < labels.mean() < 0.6
    # a word-counting rule (more positive than negative words -> positive) is far from perfect:
    # negations and "but" decide many reviews
    def words_say(text):
        words = text.lower().replace(",", " ").replace(".", " ").split()
        return int(sum(w in POSITIVE for w in words) > sum(w in NEGATIVE for w in words))
    agreement = np.mean([words_say(t) == y for t, y in zip(texts, labels)])
    assert agreement < 0.8, agreement
    assert any(" not " in t for t in texts) and any(", but " in t for t in texts)
    assert NOISE_RATE == 0.03


def _net(length: int, classes: int = 2):
    return chain("model", [("in", "TokenInput", {"length": length, "vocab_size": 97}),
                           ("emb", "Embedding", {"vocab_size": 97, "dim": 16}),
                           ("rnn", "LSTM", {"hidden_size": 32, "output": "last"}),
                           ("fc", "Linear", {"features": classes}),
                           ("head", "ClassificationHead", {"classes": classes})])


def test_reviews_load_as_ascii_ids_with_their_class_names():
    data = DataSpec("reviews", {"samples": 300})
    dataset = load_project_data(Project("reviews", [_net(64)], data, TrainingConfig({}), 0), REGISTRY)
    assert dataset.input_kind == "tokens" and dataset.vocab == ASCII_VOCAB
    assert dataset.class_names == ["negative", "positive"] and dataset.train.inputs.shape[1:] == (64,)
    texts, _ = generate_reviews(300, seed=0)
    ends = {t[-64:].rjust(64) for t in texts}
    assert {_decode(r) for r in dataset.train.inputs} <= ends  # each row is a review's last 64 characters


@pytest.mark.slow
def test_the_sentiment_example_learns_the_reviews_and_its_export_says_the_same(tmp_path, capsys):
    from graph.examples import resolve_project
    from graph.project_io import load_project
    from runtime.cli import main as cli_main
    from runtime.export_project import export_project, import_module_from

    project = load_project(resolve_project("sentiment_lstm"), REGISTRY)
    summary, _ = run_training(project, load_project_data(project, REGISTRY), tmp_path / "run")
    assert summary["final"]["accuracy"] >= 0.93, summary["final"]  # labels are 3 % noise: ~97 % at best
    trained = load_project(tmp_path / "run" / "project.dw.json", REGISTRY)
    export_project(trained, REGISTRY, "python", tmp_path / "sentiment.py", tmp_path / "run" / "best.pt")
    module = import_module_from(tmp_path / "sentiment.py")
    import torch

    model = module.SentimentLstm()
    model.load_state_dict(torch.load(tmp_path / "sentiment.pt", weights_only=True))
    cases = [("the plot was not dull.", "positive"), ("I thought the film was boring.", "negative"),
             ("the acting was brilliant, but the ending was weak.", "negative")]
    for text, expected in cases:
        assert module.predict(model, text) == expected, text
        assert cli_main(["predict", str(tmp_path / "run"), "--text", text, "--json"]) == 0
        assert f'"class": "{expected}"' in capsys.readouterr().out


def _csv(tmp_path, text: str) -> Project:
    (tmp_path / "t.csv").write_text(text)
    data = DataSpec("text_csv", {"path": str(tmp_path / "t.csv")})
    return Project("csv", [_net(16, classes=3)], data, TrainingConfig({"epochs": 1}), 0)


def test_a_text_label_csv_gives_ids_and_class_names_in_order_of_appearance(tmp_path):
    rows = ["review,sentiment"] + [f"text number {i},{['good', 'bad', 'meh'][i % 3]}" for i in range(30)]
    dataset = load_project_data(_csv(tmp_path, "\n".join(rows) + "\n"), REGISTRY)
    assert dataset.class_names == ["good", "bad", "meh"] and dataset.num_classes == 3
    every = np.concatenate([dataset.train.inputs, dataset.val.inputs])
    labels = np.concatenate([dataset.train.targets, dataset.val.targets])
    decoded = {_decode(r).strip(): int(y) for r, y in zip(every, labels)}
    assert decoded["text number 4"] == 1 and decoded["text number 3"] == 0 and len(decoded) == 30


@pytest.mark.parametrize("text, expected", [
    ("only one column\nno labels\n", "the rows have one column"),
    ("a,b\nc\n", "t.csv:2: 1 columns where the first row has 2"),
    ("hello,good\nworld,\n", "t.csv:2: the label is empty"),
    ("", "the file has no rows"),
])
def test_broken_text_tables_name_the_line(tmp_path, text, expected):
    with pytest.raises(DataError, match=expected):
        load_project_data(_csv(tmp_path, text), REGISTRY)
