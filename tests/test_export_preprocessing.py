"""A trained run's preprocessing travels with its exports: raw data through them gives the trained accuracy.

digits_cnn trains on standardised pixels; fed raw 0..16 pixels the same
weights score far lower. The checkpoint records mean, std and class names,
and every export of the run carries them: the Python module (MEAN, STD,
CLASSES, preprocess(), predict()), ONNX metadata_props and the .pt2 archive.
The checks feed raw scikit-learn digits (the validation split, chosen the
way the trainer chose it) to the exported files, never DeepWire's loader.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from graph.examples import resolve_project
from graph.project_io import load_project
from runtime.data.split import split_indices
from runtime.data.text import ASCII_VOCAB
from runtime.data.text import encode as trainer_encode
from runtime.export import WeightsFileError
from runtime.export_project import export_project, import_module_from
from runtime.preprocessing import Preprocessing, PreprocessingError
from runtime.train.data import load_project_data
from tests.test_train_fixtures import REGISTRY, run_training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """digits_cnn trained for one epoch on the bundled digits: (project, run folder, validation accuracy)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        project = load_project(resolve_project("digits_cnn"), REGISTRY)
        project.training.epochs = 1
        run_dir = tmp_path_factory.mktemp("runs") / "digits_cnn"
        summary, _ = run_training(project, load_project_data(project, REGISTRY), run_dir)
    finally:
        torch.set_num_threads(threads)
    return project, run_dir, summary["final"]["accuracy"]


def raw_validation_digits(project) -> tuple[np.ndarray, np.ndarray]:
    """The validation split as raw 0..16 pixels (B, 1, 8, 8), straight from scikit-learn."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.data.reshape(-1, 1, 8, 8).astype(np.float32), digits.target
    _, val, _ = split_indices(len(images), project.training.val_fraction, project.training.test_fraction,
                              project.seed, labels=labels)
    return images[val], labels[val]


def test_checkpoint_records_how_the_data_was_prepared(trained):
    _, run_dir, _ = trained
    for name in ("best.pt", "last.pt"):
        record = torch.load(run_dir / name, weights_only=True)["preprocessing"]
        assert record["input_kind"] == "image" and record["stat_shape"] == [1, 1, 1]
        assert record["classes"] == [str(i) for i in range(10)]
        assert 4.0 < record["mean"][0] < 6.0 and 5.0 < record["std"][0] < 7.0  # pixels 0..16
    assert "MEAN = torch.tensor(" in (run_dir / "model.py").read_text()  # the run's own code too


def test_exported_module_turns_raw_digits_into_the_trained_accuracy(trained, tmp_path):
    project, run_dir, accuracy = trained
    exported = export_project(project, REGISTRY, "python", tmp_path / "digits.py", run_dir / "best.pt")
    assert exported.notes == []
    module = import_module_from(tmp_path / "digits.py")  # a fresh module, as a user imports it
    model = module.DigitsCnn()
    model.load_state_dict(torch.load(tmp_path / "digits.pt", weights_only=True))
    images, labels = raw_validation_digits(project)
    predicted = module.predict(model, images)
    assert predicted[:3] == [module.CLASSES[i] for i in
                             model(module.preprocess(images[:3])).argmax(-1).tolist()]
    assert np.mean([name == str(label) for name, label in zip(predicted, labels)]) == \
        pytest.approx(accuracy, abs=1e-6)
    with torch.no_grad():  # the reason it matters: raw pixels straight into the network score lower
        unscaled = model(torch.from_numpy(images)).argmax(-1).numpy()
    assert np.mean(unscaled == labels) < accuracy - 0.02
    assert torch.equal(module.MEAN, torch.tensor(exported.preprocessing.mean).reshape(1, 1, 1))


def test_onnx_metadata_carries_mean_std_and_classes(trained, tmp_path):
    project, run_dir, accuracy = trained
    export_project(project, REGISTRY, "onnx", tmp_path / "digits.onnx", run_dir / "best.pt")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "digits.onnx")).metadata_props}
    mean, std = json.loads(props["mean"]), json.loads(props["std"])
    shape, classes = json.loads(props["stat_shape"]), json.loads(props["classes"])
    assert classes == [str(i) for i in range(10)] and props["scaling"] == "x' = (x - mean) / std"
    assert Preprocessing.from_dict(json.loads(props["preprocessing"])).mean == tuple(mean)
    images, labels = raw_validation_digits(project)
    scaled = (images - np.reshape(mean, shape).astype(np.float32)) / np.reshape(std, shape).astype(np.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "digits.onnx"), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"image": scaled})[0]
    predicted = [classes[i] for i in scores.argmax(-1)]
    assert np.mean([p == str(y) for p, y in zip(predicted, labels)]) == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.slow
def test_torch_export_archive_carries_the_preprocessing(trained, tmp_path):
    project, run_dir, _ = trained
    export_project(project, REGISTRY, "torch-export", tmp_path / "digits.pt2", run_dir / "best.pt")
    extra = {"deepwire.json": ""}
    torch.export.load(str(tmp_path / "digits.pt2"), extra_files=extra)
    assert json.loads(extra["deepwire.json"])["classes"] == json.dumps([str(i) for i in range(10)])


def test_plain_state_dict_export_says_it_records_no_preprocessing(trained, tmp_path):
    project, run_dir, _ = trained
    state = torch.load(run_dir / "best.pt", weights_only=True)["models"]["model"]
    torch.save(state, tmp_path / "plain.pt")
    exported = export_project(project, REGISTRY, "python", tmp_path / "digits.py", tmp_path / "plain.pt")
    assert exported.preprocessing is None and "records no input preprocessing" in exported.notes[0]
    assert "def preprocess" not in (tmp_path / "digits.py").read_text()


@pytest.mark.parametrize("field, value, message", [
    ("mean", [float("nan")], "finite"),
    ("std", [0.0], "positive"),
    ("mean", [1.0, 2.0], "need 1 values"),
    ("classes", [3], "list of strings"),
    ("input_kind", "picture", "input_kind"),
    ("stat_shape", [1, -1, 1], "positive integers"),
])
def test_malformed_checkpoint_preprocessing_is_refused(trained, tmp_path, field, value, message):
    project, run_dir, _ = trained
    state = torch.load(run_dir / "best.pt", weights_only=True)
    state["preprocessing"][field] = value
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(PreprocessingError, match=message):
        Preprocessing.from_dict(state["preprocessing"])
    with pytest.raises(WeightsFileError, match="'preprocessing' entry cannot be used"):
        export_project(project, REGISTRY, "python", tmp_path / "digits.py", tmp_path / "bad.pt")


def _write_module(tmp_path, prep: Preprocessing, project_name: str):
    from graph.compiler import compile_project
    from runtime.preprocessing import with_preprocessing

    project = load_project(resolve_project(project_name), REGISTRY)
    compiled = compile_project(project, REGISTRY)
    path = tmp_path / f"{project_name}.py"
    path.write_text(with_preprocessing(compiled.source, prep, compiled.network()), encoding="utf-8")
    return import_module_from(path), compiled


def test_user_text_reaches_the_module_only_as_data(tmp_path):
    """Class names that look like code stay strings; the module imports and names them exactly."""
    hostile = ["'); import os; os.system('false') #", '"""\nraise SystemExit', "\\", "ok\n# x"]
    prep = Preprocessing.from_dict({
        "network": "model", "recipe": "classification", "source": "iris", "input_kind": "vector",
        "input_shape": [4], "stat_shape": [4], "mean": [1.0, 2.0, 3.0, 4.0], "std": [1.0, 0.5, 2.0, 1.0],
        "classes": hostile[:3], "vocab": None})
    module, _ = _write_module(tmp_path, prep, "iris_mlp")
    assert module.CLASSES == hostile[:3]
    raw = torch.tensor([[2.0, 3.0, 5.0, 5.0]])
    torch.testing.assert_close(module.preprocess(raw), torch.tensor([[1.0, 2.0, 1.0, 1.0]]))
    assert set(module.predict(module.IrisMlp(), raw)) <= set(hostile)


def test_character_model_module_encodes_text_as_the_trainer_did(tmp_path):
    from runtime.data.text import ASCII_FOLDS

    prep = Preprocessing.from_dict({
        "network": "model", "recipe": "language_model", "source": "pydoc_text", "input_kind": "tokens",
        "input_shape": [64], "vocab": ASCII_VOCAB, "unknown": len(ASCII_VOCAB) - 1,
        "folds": [[chr(k), v] for k, v in ASCII_FOLDS.items()]})
    module, _ = _write_module(tmp_path, prep, "char_transformer")
    text = "def f(x):\n\treturn \u201cdone\u201d \u00e9"  # a tab, curly quotes and an é (unknown)
    ids = module.encode(text)
    assert ids.shape == (1, len(text))
    assert ids.tolist()[0] == trainer_encode(text, ASCII_VOCAB, "ascii").tolist()
    assert module.decode(ids) == 'def f(x):\n return "done" \ufffd'
    assert module.predict(module.CharacterTransformer(), "import ") in ASCII_VOCAB


def test_gan_module_turns_generated_values_back_into_pixels(tmp_path):
    prep = Preprocessing.from_dict({
        "network": "discriminator", "recipe": "gan", "source": "digits", "input_kind": "image",
        "input_shape": [1, 8, 8], "stat_shape": [1, 1, 1], "mean": [8.0], "std": [8.0]})
    from graph.compiler import compile_project
    from runtime.preprocessing import with_preprocessing

    project = load_project(resolve_project("digits_gan"), REGISTRY)
    compiled = compile_project(project, REGISTRY)
    path = tmp_path / "gan.py"
    path.write_text(with_preprocessing(compiled.source, prep, compiled.network("discriminator")))
    module = import_module_from(path)
    assert "see\npreprocess() and to_raw() at the end" in module.__doc__ and not hasattr(module, "predict")
    generated = torch.tensor([-1.0, 1.0]).reshape(1, 1, 1, 2)  # (B, C, H, W)
    torch.testing.assert_close(module.to_raw(generated).reshape(-1), torch.tensor([0.0, 16.0]))
    torch.testing.assert_close(module.preprocess(module.to_raw(generated)), generated)


def test_class_names_keep_off_the_constants_the_export_adds(registry):
    from graph.compiler import compile_project

    project = load_project(resolve_project("iris_mlp"), registry)
    project.name = "m e a n"  # would be the class MEAN, which the export's MEAN = ... would replace
    assert compile_project(project, registry).network().class_name == "MEAN2"
