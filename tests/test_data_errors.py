"""Bad data gives a DataError before training, naming the file and the row, column or path."""

from __future__ import annotations

import numpy as np
import pytest

from graph.training_config import DataSpec, TrainingConfig
from runtime.data import DataError, load_dataset, probe

CONFIG = TrainingConfig({"val_fraction": 0.0})


def _message(source: str, options: dict, config: TrainingConfig = CONFIG, **kwargs) -> str:
    with pytest.raises(DataError) as error:
        load_dataset(DataSpec(source, options), config, seed=0, **kwargs)
    return str(error.value)


# --- names and options ---

def test_unknown_source_lists_the_valid_ones():
    message = _message("mnist_fancy", {})
    assert "unknown data source 'mnist_fancy'" in message
    assert "digits" in message and "csv" in message and "image_folder" in message


def test_unknown_option_lists_the_valid_ones():
    message = _message("csv", {"path": "a.csv", "lable": "kind"})
    assert "'csv' has no option 'lable'" in message
    assert "path, label, features, task, delimiter, header" in message
    assert "'iris' has no option 'size'; its options are: classes, per_class" in _message("iris", {"size": 3})


def test_bad_option_value_names_the_option():
    message = _message("sine", {"samples": "many"})
    assert "data source 'sine', option 'samples'" in message and "whole number" in message
    assert "one of" in _message("csv", {"path": "a.csv", "delimiter": "#"})


def test_missing_required_option_says_which():
    assert "needs option 'path'" in _message("csv", {})


def test_recipe_that_does_not_fit_the_data():
    message = _message("sine", {}, CONFIG.replace(recipe="classification"))
    assert "classification recipe needs class labels" in message and "regression recipe" in message
    assert "language_model" in _message("pydoc_text", {}, CONFIG.replace(recipe="classification"))


def test_token_input_with_image_data_and_text_with_image_input():
    assert "Token ids input" in _message("digits", {}, input_shape=(64,), input_kind="tokens")
    message = _message("pydoc_text", {}, CONFIG.replace(recipe="language_model"), input_shape=(3, 8, 8),
                       input_kind="image")
    assert "TokenInput" in message


def test_sequence_with_wrong_feature_count():
    message = _message("sine", {}, CONFIG.replace(recipe="regression"), input_shape=(32, 3))
    assert "1 feature(s) per time step" in message and "(B, 32, 3)" in message


def test_fractions_that_leave_nothing_to_train():
    message = _message("iris", {}, TrainingConfig({"val_fraction": 0.6, "test_fraction": 0.5}))
    assert "leave nothing for training" in message


def test_labels_beyond_the_network_classes():
    message = _message("digits", {}, num_classes=5)
    assert "out of range for the network's 5 classes" in message and "10 classes" in message


# --- CSV ---

def _csv(tmp_path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_missing_file(tmp_path):
    message = _message("csv", {"path": str(tmp_path / "nowhere.csv")})
    assert "nowhere.csv" in message and "does not exist" in message


def test_csv_empty_file(tmp_path):
    message = _message("csv", {"path": _csv(tmp_path, "\n  \n")})
    assert "data.csv is empty" in message


def test_csv_header_without_rows(tmp_path):
    assert "no data rows" in _message("csv", {"path": _csv(tmp_path, "a,b,label\n")})


def test_csv_ragged_row_names_the_editor_line(tmp_path):
    path = _csv(tmp_path, "a,b,label\n1,2,x\n\n3,4,y\n5,6\n7,8,x\n")
    message = _message("csv", {"path": path})
    assert message.startswith("data.csv, row 5: 2 values where the header has 3 columns")
    assert "fix or delete that row" in message


def test_csv_non_numeric_value_names_row_and_column(tmp_path):
    path = _csv(tmp_path, "height,weight,label\n1,2,a\n3,heavy,b\n")
    message = _message("csv", {"path": path})
    assert message.startswith("data.csv, row 3, column 'weight': 'heavy' is not a number")


def test_csv_empty_and_nan_values(tmp_path):
    message = _message("csv", {"path": _csv(tmp_path, "h,w,label\n1,,a\n")})
    assert "data.csv, row 2, column 'w': the value is empty" in message
    message = _message("csv", {"path": _csv(tmp_path, "h,w,label\n1,2,a\nnan,3,b\n", "nan.csv")})
    assert "nan.csv, row 3, column 'h'" in message and "not a finite number" in message


def test_csv_label_column_missing(tmp_path):
    path = _csv(tmp_path, "height,weight,kind\n1,2,a\n")
    message = _message("csv", {"path": path, "label": "species"})
    assert "data.csv" in message and "'species'" in message
    assert "height, weight, kind" in message
    message = _message("csv", {"path": path, "features": "height,mass"})
    assert "'mass'" in message and "does not exist" in message


def test_csv_regression_label_must_be_numeric(tmp_path):
    path = _csv(tmp_path, "x,price\n1,10\n2,cheap\n")
    message = _message("csv", {"path": path}, CONFIG.replace(recipe="regression"))
    assert message.startswith("data.csv, row 3, column 'price': 'cheap' is not a number")


def test_csv_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name,label\nab,1\ncaf\xe9,2\n")
    message = _message("csv", {"path": str(path)})
    assert "latin.csv: byte 19 (line 3) is not valid UTF-8" in message


def test_csv_probe_reports_the_same_errors(tmp_path):
    path = _csv(tmp_path, "a,b,label\n1,2,x\n3,4\n")
    with pytest.raises(DataError, match=r"data\.csv, row 3"):
        probe(DataSpec("csv", {"path": path}))


# --- text ---

def test_text_file_not_utf8_names_the_byte_offset(tmp_path):
    path = tmp_path / "story.txt"
    path.write_bytes(b"hello world\nsecond line \xff\xfe here\n")
    message = _message("text_file", {"path": str(path)}, CONFIG.replace(recipe="language_model"))
    assert "story.txt: byte 24 (line 2) is not valid UTF-8" in message and "0xff" in message


def test_text_file_shorter_than_one_window(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("tiny text", encoding="utf-8")
    message = _message("text_file", {"path": str(path)}, CONFIG.replace(recipe="language_model"),
                       input_shape=(64,))
    assert "short.txt: the text has 9 characters, shorter than one window of 65" in message


def test_text_file_missing(tmp_path):
    message = _message("text_file", {"path": "gone.txt"}, CONFIG.replace(recipe="language_model"),
                       base_dir=tmp_path)
    assert "gone.txt" in message and "does not exist" in message and str(tmp_path) in message


# --- image folders ---

def _png(path, size=(4, 4)):
    from PIL import Image

    Image.new("L", size, 128).save(path)


def test_image_folder_empty(tmp_path):
    (tmp_path / "pets").mkdir()
    message = _message("image_folder", {"path": str(tmp_path / "pets")})
    assert "pets: the folder is empty" in message and "one sub-folder per class" in message


def test_image_folder_without_class_subfolders(tmp_path):
    _png(tmp_path / "cat1.png")
    message = _message("image_folder", {"path": str(tmp_path)})
    assert "has no class sub-folders" in message and "cat1.png" in message


def test_image_folder_class_without_images(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    _png(tmp_path / "cats" / "a.png")
    (tmp_path / "dogs" / "readme.txt").write_text("no pictures yet")
    message = _message("image_folder", {"path": str(tmp_path)})
    assert "dogs" in message and "holds no images" in message


def test_image_folder_unreadable_image_skipped_and_named_by_path(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        _png(tmp_path / name / "a.png")
    broken = tmp_path / "dogs" / "b.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    dataset = load_dataset(DataSpec("image_folder", {"path": str(tmp_path)}), CONFIG, 0,
                           input_shape=(1, 4, 4))
    assert len(dataset.train) == 2 and dataset.train.targets.tolist().count(1) == 1  # b.png left out
    message = " ".join(dataset.extra["warnings"])
    assert str(broken) in message and "skipped 1 file(s) that could not be read as images" in message


def test_image_folder_class_whose_images_are_all_unreadable(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
    _png(tmp_path / "cats" / "a.png")
    (tmp_path / "dogs" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    message = _message("image_folder", {"path": str(tmp_path)}, input_shape=(1, 4, 4))
    assert "none of the images of class 'dogs' could be read" in message and "b.png" in message


def test_image_folder_missing_and_bad_channel_count(tmp_path):
    assert "does not exist" in _message("image_folder", {"path": str(tmp_path / "nope")})
    (tmp_path / "cats").mkdir()
    _png(tmp_path / "cats" / "a.png")
    message = _message("image_folder", {"path": str(tmp_path)}, input_shape=(2, 4, 4))
    assert "1 (grey), 3 (RGB) or 4 (RGBA)" in message and "2 channels" in message


# --- arrays ---

def test_arrays_mismatched_lengths(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 3)), y=np.zeros(9, dtype=np.int64))
    message = _message("arrays", {"path": str(tmp_path / "d.npz")})
    assert "d.npz: the inputs have 10 samples but the labels have 9" in message


def test_arrays_wrong_dtype(tmp_path):
    np.savez(tmp_path / "words.npz", x=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1]))
    message = _message("arrays", {"path": str(tmp_path / "words.npz")})
    assert "words.npz: the inputs hold text values" in message and "numbers" in message


def test_arrays_object_arrays_are_never_unpickled(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    message = _message("arrays", {"path": str(tmp_path / "objects.npy")}, CONFIG.replace(recipe="gan"))
    assert "objects.npy" in message and "never unpickles" in message


def test_arrays_nan_inputs_name_the_sample(tmp_path):
    x = np.ones((6, 2))
    x[4, 1] = np.nan
    np.savez(tmp_path / "n.npz", x=x, y=np.array([0, 1, 0, 1, 0, 1]))
    message = _message("arrays", {"path": str(tmp_path / "n.npz")})
    assert "n.npz: input sample 4 holds NaN" in message


def test_arrays_label_out_of_range_for_the_network(tmp_path):
    np.savez(tmp_path / "l.npz", x=np.ones((5, 2)), y=np.array([0, 1, 2, 7, 1]))
    message = _message("arrays", {"path": str(tmp_path / "l.npz")}, num_classes=3)
    assert "l.npz: label 7 of sample 3 is out of range for the network's 3 classes (0 to 2)" in message
    np.savez(tmp_path / "neg.npz", x=np.ones((3, 2)), y=np.array([0, -1, 1]))
    message = _message("arrays", {"path": str(tmp_path / "neg.npz")})
    assert "neg.npz: label -1 of sample 1 is negative" in message


def test_arrays_fractional_class_labels(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.ones((3, 2)), y=np.array([0.0, 1.5, 1.0]))
    message = _message("arrays", {"path": str(tmp_path / "f.npz")}, CONFIG.replace(recipe="classification"))
    assert "f.npz: the label of sample 1 is not a whole number" in message


def test_arrays_without_labels_for_classification(tmp_path):
    np.save(tmp_path / "only.npy", np.ones((4, 2)))
    message = _message("arrays", {"path": str(tmp_path / "only.npy")},
                       CONFIG.replace(recipe="classification"))
    assert "only.npy holds only inputs" in message and "option 'labels'" in message


def test_arrays_not_a_numpy_file(tmp_path):
    (tmp_path / "fake.npz").write_text("hello")
    message = _message("arrays", {"path": str(tmp_path / "fake.npz")})
    assert "fake.npz" in message and "not a numpy" in message


# --- torchvision ---

def test_torchvision_missing_says_how_to_install(tmp_path, monkeypatch):
    import runtime.data.vision as vision

    monkeypatch.setattr(vision.importlib.util, "find_spec", lambda name: None)
    message = _message("torchvision", {"dataset": "CIFAR10", "root": str(tmp_path)})
    assert "pip install torchvision" in message and "cifar-10-batches-py" in message
