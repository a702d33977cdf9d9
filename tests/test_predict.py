"""`deepwire predict RUN INPUT...`: raw inputs in, the trained run's answers out (runtime/predict.py).

The reference each time is something DeepWire's predict code did not compute:
the labels scikit-learn ships with the digits, the exported module's own
predict() on the same raw pixels, a table's own label column.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graph.compiler import compile_project
from graph.model import Project
from graph.project_io import load_project, save_project
from graph.training_config import DataSpec, TrainingConfig
from runtime.cli import main as cli_main
from runtime.export_project import export_project, import_module_from
from runtime.preprocessing import Preprocessing
from tests.test_evaluate import train
from tests.test_export_preprocessing import raw_validation_digits
from tests.test_train_fixtures import REGISTRY, chain

ROOT = Path(__file__).resolve().parents[1]


def _predict(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = cli_main(["predict", *argv, "--json"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, rows, captured.err


def _write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Raw 0..16 digits as ordinary 8-bit PNG files (0..255), the way a user would have them."""
    folder.mkdir(parents=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        pixels = np.round(image.reshape(8, 8) * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}_{label}.png")


def test_png_files_of_the_validation_digits_score_the_runs_accuracy(digits_cnn_run, tmp_path, capsys):
    project = load_project(digits_cnn_run / "project.dw.json", REGISTRY)
    images, labels = raw_validation_digits(project)
    _write_pngs(tmp_path / "pngs" / "nested", images, labels)
    code, rows, err = _predict(capsys, str(digits_cnn_run), str(tmp_path / "pngs"), "--top", "3")
    assert code == 0, err
    assert len(rows) == len(labels)  # the sub-folder was walked, every file read once
    truth = [name.split("_")[1].split(".")[0] for name in (Path(r["input"]).name for r in rows)]
    accuracy = np.mean([r["class"] == t for r, t in zip(rows, truth)])
    summary = json.loads((digits_cnn_run / "summary.json").read_text())
    trained = summary["best"]["accuracy"] if "best" in summary else summary["final"]["accuracy"]
    assert accuracy > 0.9 and abs(accuracy - trained) <= 0.02, (accuracy, trained)
    for row in rows:
        probabilities = [t["probability"] for t in row["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert row["top"][0]["class"] == row["class"] and 0 < sum(probabilities) <= 1 + 1e-6


def test_a_npy_of_raw_pixels_gets_the_exported_modules_own_predictions(digits_cnn_run, tmp_path, capsys):
    project = load_project(digits_cnn_run / "project.dw.json", REGISTRY)
    images, _ = raw_validation_digits(project)
    np.save(tmp_path / "raw.npy", images[:40])
    code, rows, err = _predict(capsys, str(digits_cnn_run), str(tmp_path / "raw.npy"))
    assert code == 0, err
    exported = export_project(project, REGISTRY, "python", tmp_path / "digits.py", digits_cnn_run / "best.pt")
    assert exported.preprocessing is not None
    module = import_module_from(tmp_path / "digits.py")
    model = module.DigitsCnn()
    model.load_state_dict(torch.load(tmp_path / "digits.pt", weights_only=True))
    assert [r["class"] for r in rows] == module.predict(model, images[:40])
    scores = torch.softmax(model.eval()(module.preprocess(images[:40])), dim=-1).max(dim=-1).values
    np.testing.assert_allclose([r["probability"] for r in rows], scores.detach().numpy(), rtol=1e-5)
    assert [r["input"] for r in rows[:2]] == [f"{tmp_path / 'raw.npy'}[0]", f"{tmp_path / 'raw.npy'}[1]"]


def test_the_checkpoint_records_the_pixel_range_and_older_ones_still_load(digits_cnn_run):
    record = torch.load(digits_cnn_run / "best.pt", weights_only=True)["preprocessing"]
    assert record["pixel_range"] == [0.0, 16.0]
    old = {k: v for k, v in record.items() if k not in ("pixel_range", "features")}
    assert Preprocessing.from_dict(old).pixel_range is None  # a checkpoint of the previous version


def test_table_output_names_each_file(digits_cnn_run, tmp_path, capsys):
    project = load_project(digits_cnn_run / "project.dw.json", REGISTRY)
    images, labels = raw_validation_digits(project)
    _write_pngs(tmp_path / "two", images[:2], labels[:2])
    assert cli_main(["predict", str(digits_cnn_run), str(tmp_path / "two" / "0000_" f"{labels[0]}.png"),
                     str(tmp_path / "two" / f"0001_{labels[1]}.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["input", "prediction", "probability", "next", "best"]
    assert len(lines) == 3 and lines[1].split()[0].endswith(f"0000_{labels[0]}.png")


@pytest.mark.parametrize("make, expected", [
    (lambda d: (d / "bad.png").write_bytes(b"\x89PNG not really"), "bad.png: cannot be read as an image"),
    (lambda d: (d / "empty.png").write_bytes(b""), "empty.png: cannot be read as an image"),
    (lambda d: (d / "notes.txt").write_text("hello"), "notes.txt: not an input DeepWire reads"),
    (lambda d: np.save(d / "wrong.npy", np.zeros((3, 64), np.float32)),
     "array of shape (3, 64); this network reads samples of shape (1, 8, 8)"),
    (lambda d: np.save(d / "nan.npy", np.full((1, 8, 8), np.nan, np.float32)), "nan.npy[0]: holds NaN"),
    (lambda d: (d / "rows.csv").write_text("1,2\n"), "rows.csv: a table, but this run's network reads image"),
    (lambda d: (d / "nothing").mkdir(), "nothing: this folder holds no image files"),
])
def test_unusable_inputs_are_named_and_nothing_is_printed_half_way(digits_cnn_run, tmp_path, capsys,
                                                                  make, expected):
    inputs = tmp_path / "inputs"  # beside the run's copy in tmp_path
    inputs.mkdir()
    make(inputs)
    given = next(p for p in inputs.iterdir())
    code, rows, err = _predict(capsys, str(digits_cnn_run), str(given))
    assert code == 2 and rows == []
    assert expected in err and "Traceback" not in err, err


def test_unusable_runs_and_arguments_exit_2_with_the_reason(digits_cnn_run, tmp_path, capsys):
    cases = [
        ([str(tmp_path / "missing"), "x.png"], "no such run folder"),
        ([str(tmp_path), "x.png"], "no project.dw.json here"),
        ([str(digits_cnn_run)], "give inputs to predict"),
        ([str(digits_cnn_run), "--text", "hello"], "--text: this run's network reads images"),
        ([str(digits_cnn_run), str(tmp_path / "absent.png")], "absent.png: no such file or folder"),
        ([str(digits_cnn_run), "x.png", "--top", "0"], "--top must be at least 1"),
    ]
    broken = tmp_path / "no_checkpoint"
    broken.mkdir()
    (broken / "project.dw.json").write_bytes((digits_cnn_run / "project.dw.json").read_bytes())
    cases.append(([str(broken), "x.png"], "saved no checkpoint"))
    for argv, expected in cases:
        assert cli_main(["predict", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, (argv, err)


# --- a table: the training file's feature columns, found by name --------------------------------

def _blobs(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    centres = np.array([[0, 0, 0, 0], [4, 0, 4, 0], [0, 4, 0, 4]], dtype=np.float64)
    return centres[labels] + rng.normal(0, 0.6, (rows, 4)), labels


@pytest.fixture(scope="module")
def table_run(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("table")
    x, y = _blobs(600, seed=0)
    names = ["setosa", "versicolor", "virginica"]
    lines = ["id,a,b,c,d,species"] + [f"{i},{','.join(f'{v:.4f}' for v in row)},{names[label]}"
                                      for i, (row, label) in enumerate(zip(x, y))]
    (folder / "flowers.csv").write_text("\n".join(lines) + "\n")
    net = chain("model", [("in", "VectorInput", {"features": 4}), ("fc", "Linear", {"features": 16}),
                          ("act", "ReLU", {}), ("out", "Linear", {"features": 3}),
                          ("head", "ClassificationHead", {"classes": 3})])
    data = DataSpec("csv", {"path": "flowers.csv", "label": "species", "features": "a,b,c,d"})
    project = Project("Flowers", [net], data, TrainingConfig({"epochs": 8, "batch_size": 32}), 0)
    save_project(project, folder / "flowers.dw.json")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "train", str(folder / "flowers.dw.json"),
                           "--out", str(folder / "run"), "--quiet", "--threads", "1"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder, folder / "run"


def test_csv_rows_are_read_by_the_training_tables_column_names(table_run, tmp_path, capsys):
    _, run = table_run
    x, y = _blobs(50, seed=7)  # new flowers, never trained on
    names = ["setosa", "versicolor", "virginica"]
    # another column order, an extra column, no label: the header says which column is which
    lines = ["d,note,b,a,c"] + [f"{r[3]},new,{r[1]},{r[0]},{r[2]}" for r in x]
    (tmp_path / "new.csv").write_text("\n".join(lines) + "\n")
    code, rows, err = _predict(capsys, str(run), str(tmp_path / "new.csv"))
    assert code == 0, err
    assert [r["input"] for r in rows[:2]] == [f"{tmp_path / 'new.csv'}:2", f"{tmp_path / 'new.csv'}:3"]
    accuracy = np.mean([r["class"] == names[label] for r, label in zip(rows, y)])
    assert accuracy >= 0.95, accuracy
    # the same rows without a header, in the training order, give the same answers
    (tmp_path / "plain.csv").write_text("\n".join(",".join(str(v) for v in r) for r in x) + "\n")
    code, again, err = _predict(capsys, str(run), str(tmp_path / "plain.csv"))
    assert code == 0, err
    assert [r["class"] for r in again] == [r["class"] for r in rows]


@pytest.mark.parametrize("text, expected", [
    ("a,b,c\n1,2,3\n", "its header has 3 columns; give the training table's feature columns (a, b, c, d)"),
    ("1,2,3\n", "new.csv:1: 3 numbers; this network reads 4 features per row"),
    ("1,2,3,4\n1,2,3\n", "new.csv:2: 3 columns where the first row has 4"),
    ("a,b,c,d\n1,2,x,4\n", "new.csv:2: 'x' is not a number"),
])
def test_broken_tables_name_the_line(table_run, tmp_path, capsys, text, expected):
    _, run = table_run
    (tmp_path / "new.csv").write_text(text)
    code, rows, err = _predict(capsys, str(run), str(tmp_path / "new.csv"))
    assert code == 2 and rows == [] and expected in err and "Traceback" not in err, err


def test_devices_fifos_and_zip_bombs_are_refused_without_reading_them(digits_cnn_run, tmp_path, capsys,
                                                                      monkeypatch):
    os.mkfifo(tmp_path / "pipe.png")  # opening it to read would block forever
    for given, expected in [(str(tmp_path / "pipe.png"), "pipe.png: not a regular file"),
                            ("/dev/zero", "/dev/zero: not a regular file")]:
        code, rows, err = _predict(capsys, str(digits_cnn_run), given)
        assert code == 2 and rows == [] and expected in err, err
    # 20 MB of zeros that compress to a few KB: refused from the zip directory, never unpacked
    monkeypatch.setenv("DEEPWIRE_MAX_DATA_BYTES", str(5_000_000))
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((20_000_000 // 256, 1, 8, 8), np.float32))
    code, rows, err = _predict(capsys, str(digits_cnn_run), str(tmp_path / "bomb.npz"))
    assert code == 2 and rows == [] and "bomb.npz: array 'x' unpacks to" in err, err


def test_text_gets_the_next_character_the_exported_module_predicts(tmp_path, capsys):
    run = train("char_transformer", tmp_path / "lm", "--max-seconds", "2")
    project = load_project(run / "project.dw.json", REGISTRY)
    prompt = "def sample(self, text):\n    \"\"\"Return the text with every word in it reversed.\"\"\"\n"
    code, rows, err = _predict(capsys, str(run), "--text", prompt, "--top", "5")
    assert code == 0, err
    (row,) = rows
    weights = run / "best.pt" if (run / "best.pt").is_file() else run / "last.pt"  # 2 s: maybe no epoch end
    export_project(project, REGISTRY, "python", tmp_path / "lm.py", weights)
    module = import_module_from(tmp_path / "lm.py")
    model = getattr(module, compile_project(project, REGISTRY).network().class_name)
    net = model()
    net.load_state_dict(torch.load(tmp_path / "lm.pt", weights_only=True))
    assert row["class"] == module.predict(net, prompt)
    assert len(row["top"]) == 5 and all(t["class"] in module.VOCAB for t in row["top"])
    assert cli_main(["predict", str(run), "--text", ""]) == 2
    assert "--text: the text is empty" in capsys.readouterr().err
