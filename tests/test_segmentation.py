"""Semantic segmentation end to end: metrics against hand-computed values, the shapes and mask_folder
sources (bad files included), the recipe learning on tiny data, evaluation files, the Evaluation
window, exports matching the trained model, and data health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from graph.model import Network
from graph.project_io import load_project, save_project
from graph.training_config import DataSpec, TrainingConfig
from runtime.data import DataError, load_dataset
from runtime.data.masks import draw_shapes
from runtime.evaluate_segmentation import sample_iou
from runtime.train.errors import SetupError
from runtime.train.images import decode_png, decode_png_size
from runtime.train.metrics import SegmentationMeter, segmentation_scores
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    chain,
    project,
    run_training,
    single_thread,
)

ROOT = Path(__file__).resolve().parents[1]
SEG = TrainingConfig({"recipe": "segmentation"})


def one_hot_scores(predicted: list, classes: int) -> torch.Tensor:
    """Scores (B, C, H, W) whose per-pixel argmax is `predicted` (B, H, W)."""
    return torch.nn.functional.one_hot(torch.tensor(predicted), classes).permute(0, 3, 1, 2).float()


# --- metrics ------------------------------------------------------------------------------------

def test_meter_matches_hand_computed_iou_dice_and_pixel_accuracy():
    # 3 classes; class 2 is in neither the mask nor the prediction: no IoU, left out of the means
    true = [[[0, 0], [1, 1]]]
    predicted = [[[0, 1], [1, 1]]]
    meter = SegmentationMeter(3, torch.device("cpu"))
    meter.add(one_hot_scores(predicted, 3), torch.tensor(true), torch.tensor(0.5))
    result = meter.result()
    # class 0: TP 1, FN 1, FP 0 -> IoU 1/2, Dice 2/3; class 1: TP 2, FP 1 -> IoU 2/3, Dice 4/5
    assert result["pixel_accuracy"] == pytest.approx(3 / 4)
    assert result["mean_iou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert result["mean_dice"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert result["loss"] == pytest.approx(0.5)
    rows = meter.per_class()
    assert [r["iou"] for r in rows] == [pytest.approx(0.5), pytest.approx(2 / 3), None]
    assert [r["dice"] for r in rows] == [pytest.approx(2 / 3), pytest.approx(0.8), None]
    assert [(r["pixels"], r["predicted"]) for r in rows] == [(2, 1), (2, 3), (0, 0)]


def test_a_class_missed_or_invented_scores_zero_and_counts_in_the_mean():
    meter = SegmentationMeter(3, torch.device("cpu"))
    # batch 1: class 2 is in the mask but never predicted; batch 2: class 1 predicted where there is none
    meter.add(one_hot_scores([[[2, 0]]], 3), torch.tensor([[[2, 0]]]), torch.tensor(1.0))
    meter.add(one_hot_scores([[[0, 0]]], 3), torch.tensor([[[2, 0]]]), torch.tensor(3.0))
    # pixels: (2->2) (0->0) (2->0) (0->0)
    assert meter.confusion_matrix() == [[2, 0, 0], [0, 0, 0], [1, 0, 1]]
    result = meter.result()
    assert result["pixel_accuracy"] == pytest.approx(3 / 4)
    # class 0: TP 2, FP 1 -> 2/3; class 1: absent; class 2: TP 1, FN 1 -> 1/2
    assert result["mean_iou"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert result["loss"] == pytest.approx(2.0)  # per-sample mean of the two batches
    invented = segmentation_scores([[1, 1], [0, 0]])  # class 1 predicted once, never true
    assert invented[1]["iou"] == 0.0 and invented[1]["dice"] == 0.0


def test_sample_iou_is_each_images_own_mean_over_its_classes():
    true = np.array([[[0, 1], [1, 1]], [[0, 0], [0, 0]]])
    predicted = np.array([[[0, 1], [0, 1]], [[0, 0], [0, 0]]])
    # sample 0: class 0 IoU 1/2, class 1 IoU 2/3; sample 1: background only and right -> 1
    assert sample_iou(true, predicted, 3).tolist() == pytest.approx([(1 / 2 + 2 / 3) / 2, 1.0])


# --- the shapes source ---------------------------------------------------------------------------

def test_shapes_are_made_from_the_seed_and_their_masks_mark_the_bright_shapes():
    images, masks = draw_shapes(20, 1, 24, 24, 3, 0.0, seed=7)
    again, masks_again = draw_shapes(20, 1, 24, 24, 3, 0.0, seed=7)
    other, _ = draw_shapes(20, 1, 24, 24, 3, 0.0, seed=8)
    assert images.shape == (20, 1, 24, 24) and masks.shape == (20, 24, 24)
    assert np.array_equal(images, again) and np.array_equal(masks, masks_again)
    assert not np.array_equal(images, other)
    assert set(np.unique(masks)) == {0, 1, 2, 3}
    assert (masks > 0).any(axis=(1, 2)).all()  # every image holds a shape
    # no noise: shapes are at least 0.55 bright, the background at most 0.35
    assert images[:, 0][masks > 0].min() >= 0.55 and images[:, 0][masks == 0].max() <= 0.35


def test_shapes_take_the_networks_size_and_channels():
    data = load_dataset(DataSpec("shapes", {"samples": 40}), SEG, 0, input_shape=(3, 20, 28),
                        input_kind="image")
    assert data.train.inputs.shape[1:] == (3, 20, 28) and data.train.targets.shape[1:] == (20, 28)
    assert data.num_classes == 4 and data.class_names == ["background", "circle", "square", "triangle"]
    assert len(data.train) + len(data.val) == 40


# --- training --------------------------------------------------------------------------------------

def tiny_net(classes: int = 4, padding: int = 1, size: int = 16, width: int | None = None) -> Network:
    return chain("model", [("in", "ImageInput", {"channels": 1, "height": size, "width": width or size}),
                           ("c1", "Conv2d", {"channels": 12, "padding": padding}), ("r1", "ReLU", {}),
                           ("c2", "Conv2d", {"channels": 12, "padding": 2 * padding, "dilation": 2}),
                           ("r2", "ReLU", {}),
                           ("c3", "Conv2d", {"channels": 12, "padding": padding}), ("r3", "ReLU", {}),
                           ("scores", "Conv2d", {"channels": classes, "kernel_size": 1}),
                           ("mask", "SegmentationHead", {"classes": classes})])


def tiny_shapes(samples: int = 240, size: int = 16):
    return load_dataset(DataSpec("shapes", {"samples": samples, "max_shapes": 1}), SEG, 0,
                        input_shape=(1, size, size), input_kind="image")


@pytest.mark.usefixtures("single_thread")
def test_recipe_learns_on_tiny_shapes_and_monitors_mean_iou(tmp_path):
    proj = project(tiny_net(), recipe="segmentation", epochs=8, lr=0.005, batch_size=16)
    data = tiny_shapes(400)
    summary, events = run_training(proj, data, tmp_path / "run")
    validations = events.of("validation")
    first, last = validations[0].metrics, validations[-1].metrics
    assert {"loss", "pixel_accuracy", "mean_iou", "mean_dice", "iou_background"} <= set(last)
    # a network that calls every pixel background scores the background's share / 4 classes
    all_background = float((data.val.targets == 0).mean()) / 4
    assert first["mean_iou"] == pytest.approx(all_background, abs=0.02)
    assert last["mean_iou"] > first["mean_iou"] + 0.05 and summary["best_metric"] > all_background + 0.1
    assert last["loss"] < first["loss"]
    assert 0 <= last["mean_iou"] <= last["mean_dice"] <= 1  # Dice >= IoU class by class
    assert summary["monitor"] == "mean_iou"
    assert summary["best_metric"] == max(v.metrics["mean_iou"] for v in validations)  # higher is better
    png = (tmp_path / "run" / "samples" / "epoch_008.png").read_bytes()
    width, height = decode_png_size(png)
    assert width > 3 * 96 and height > 4 * 96  # 4 rows of image / true / predicted


@pytest.mark.usefixtures("single_thread")
def test_setup_errors_name_the_head_and_say_what_to_change(tmp_path):
    data = tiny_shapes(60)
    small = project(tiny_net(padding=0), recipe="segmentation", epochs=1)  # 16x16 -> 8x8 scores
    with pytest.raises(SetupError, match=r"Segmentation head 'mask' .* 8x8 pixels, but the masks .* 16x16"):
        run_training(small, data, tmp_path / "a")
    few = project(tiny_net(classes=3), recipe="segmentation", epochs=1)
    with pytest.raises(SetupError, match=r"4 classes .* Segmentation head 'mask' .* only 3"):
        run_training(few, data, tmp_path / "b")
    classifier = chain("model", [("in", "ImageInput", {"channels": 1, "height": 16, "width": 16}),
                                 ("flat", "Flatten", {}), ("fc", "Linear", {"features": 4}),
                                 ("head", "ClassificationHead", {"classes": 4})])
    with pytest.raises(SetupError, match="ends in a ClassificationHead .* Segmentation head"):
        run_training(project(classifier, recipe="segmentation", epochs=1), data, tmp_path / "c")
    with pytest.raises(SetupError, match="class mask per image .* segmentation recipe"):
        run_training(project(classifier, recipe="classification", epochs=1), data, tmp_path / "d")


@pytest.mark.usefixtures("single_thread")
def test_segmentation_refuses_data_with_one_label_per_image(tmp_path):
    from runtime.data.source import target_kind_for
    from tests.test_train_fixtures import digits_images

    net = tiny_net(classes=10, size=8)
    with pytest.raises(SetupError, match=r"one mask per image \(N, H, W\), but the data .* labels of shape"):
        run_training(project(net, recipe="segmentation", epochs=1), digits_images(40, 20), tmp_path / "r")
    with pytest.raises(DataError, match="segmentation recipe needs a class mask per image"):
        target_kind_for("value", "sine", "segmentation")


# --- mask_folder -----------------------------------------------------------------------------------

def write_folder(root: Path) -> tuple[Path, Path]:
    from PIL import Image

    images, masks = root / "images", root / "masks"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    for k in range(6):
        mask = np.zeros((10, 12), np.uint8)
        mask[2:6, 3:9] = 1 + k % 2
        Image.fromarray((rng.random((10, 12)) * 80 + mask * 80).astype(np.uint8)).save(images / f"s{k}.png")
        Image.fromarray(mask, "L").save(masks / f"s{k}.png")
    palette = Image.fromarray(np.array([[0, 2], [1, 0]] * 5, np.uint8).repeat(6, axis=1), "P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)  # indices are the ids, not colours
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(images / "pal.jpg")
    palette.save(masks / "pal.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(images / "lonely.png")  # no mask
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(images / "wrong_size.png")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(masks / "wrong_size.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(images / "colour.png")
    Image.fromarray(np.zeros((10, 12, 3), np.uint8), "RGB").save(masks / "colour.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(images / "big_id.png")
    Image.fromarray(np.full((10, 12), 9, np.uint8), "L").save(masks / "big_id.png")
    (images / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(masks / "broken.png")
    return images, masks


def test_mask_folder_pairs_by_name_resizes_and_skips_bad_files_by_name(tmp_path):
    images, masks = write_folder(tmp_path)
    spec = DataSpec("mask_folder", {"path": str(images), "masks": str(masks), "classes": 3,
                                    "class_names": "background,a,b"})
    config = TrainingConfig({"recipe": "segmentation", "val_fraction": 0.0})
    data = load_dataset(spec, config, 0, input_shape=(1, 20, 24), input_kind="image")
    assert len(data.train) == 7  # s0..s5 and the palette mask
    assert data.train.inputs.shape[1:] == (1, 20, 24) and data.train.targets.shape[1:] == (20, 24)
    assert data.class_names == ["background", "a", "b"] and data.num_classes == 3
    assert set(np.unique(data.train.targets)) == {0, 1, 2}  # resized with nearest: ids stay ids
    (note,) = data.extra["warnings"]
    assert "skipped 5 image(s)" in note
    skipped = "\n".join(data.extra["skipped_files"])
    assert "lonely.png (no mask named lonely.png" in skipped
    assert "wrong_size.png (the mask is 5x5 but its image wrong_size.png is 12x10)" in skipped
    assert "colour.png (a RGB mask has no class ids" in skipped
    assert "big_id.png (holds class id 9, but option 'classes' is 3" in skipped
    assert str(images / "broken.png") in skipped
    # classes 0: the largest id found + 1 (the mask with id 9 is then fine)
    spec = DataSpec("mask_folder", {"path": str(images), "masks": str(masks)})
    data = load_dataset(spec, config, 0, input_shape=(1, 10, 12), input_kind="image")
    assert data.num_classes == 10 and len(data.train) == 8
    assert data.class_names[:2] == ["background", "class 1"]


def test_mask_folder_says_what_is_wrong_with_the_folders(tmp_path):
    images, masks = write_folder(tmp_path)
    config = TrainingConfig({"recipe": "segmentation"})
    with pytest.raises(DataError, match="option 'masks': the folder 'nowhere' does not exist"):
        load_dataset(DataSpec("mask_folder", {"path": str(images), "masks": "nowhere"}), config, 0,
                     base_dir=tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="none of the .* images of images has a mask here"):
        load_dataset(DataSpec("mask_folder", {"path": str(images), "masks": str(other)}), config, 0)
    with pytest.raises(DataError, match="2 names for 3 classes"):
        load_dataset(DataSpec("mask_folder", {"path": str(images), "masks": str(masks), "classes": 3,
                                              "class_names": "bg,a"}), config, 0,
                     input_shape=(1, 10, 12), input_kind="image")


def test_data_health_shows_pixel_shares_and_the_skipped_masks(tmp_path, registry):
    from runtime.data.health import check_data

    images, masks = write_folder(tmp_path)
    proj = project(tiny_net(classes=3, size=10, width=12), recipe="segmentation")
    proj.data = DataSpec("mask_folder", {"path": "images", "masks": "masks", "classes": 3})
    report = check_data(proj, registry, base_dir=tmp_path).as_dict()
    rows = {r["name"]: r for r in report["class_pixels"]}
    assert sum(r["pixels"] for r in rows.values()) == 7 * 10 * 12
    assert rows["class 1"]["pixels"] == 3 * 24 + 10 * 6 // 2  # s0, s2, s4 and the palette mask's ones
    skipped = next(p for p in report["problems"] if p["code"] == "mask_skipped")
    assert skipped["count"] == 5 and skipped["severity"] == "warning"
    assert report["ok"]


# --- a run of the example: evaluation, the window, exports ----------------------------------------

@pytest.fixture(scope="module")
def unet_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seg") / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "train", "shapes_unet", "--epochs", "1",
                           "--data", "shapes:samples=100", "--out", str(out), "--quiet", "--threads", "1"],
                          capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return out


def test_evaluation_writes_per_class_iou_and_mask_pictures(unet_run):
    from runtime.evaluate import evaluate_run

    result = evaluate_run(unet_run)
    saved = json.loads((unet_run / "evaluation.json").read_text())
    assert saved["kind"] == "segmentation" and saved["size"] == 20
    assert [r["class"] for r in saved["per_class"]] == ["background", "circle", "square", "triangle"]
    matrix = np.array(saved["confusion"])
    assert matrix.sum() == 20 * 32 * 32
    for c, row in enumerate(saved["per_class"]):
        union = matrix[c].sum() + matrix[:, c].sum() - matrix[c, c]
        assert row["iou"] == (pytest.approx(matrix[c, c] / union) if union else None)
    ious = [r["iou"] for r in saved["per_class"] if r["iou"] is not None]
    assert saved["metrics"]["mean_iou"] == pytest.approx(sum(ious) / len(ious))
    assert [s["which"] for s in saved["samples"]] == ["worst"] * 3 + ["best"] * 3
    worst, best = saved["samples"][0], saved["samples"][-1]
    assert worst["iou"] <= best["iou"]
    for sample in saved["samples"]:
        pixels = decode_png((unet_run / sample["png"]).read_bytes())
        assert pixels.shape == (96, 3 * 96 + 4, 3)  # 32x32 enlarged 3 times, three pictures
    assert result["per_class"] == saved["per_class"]


def test_evaluation_window_shows_masks_and_the_iou_table(unet_run, qtbot):
    from runtime.evaluate import evaluate_run
    from studio.runs.evaluation import EvaluationView

    evaluate_run(unet_run)
    view = EvaluationView(unet_run)
    qtbot.addWidget(view)
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == ["Masks", "Per class IoU"]
    assert len(view.mask_pictures) == 6 and not view.mask_pictures[0].pixmap().isNull()
    assert view.per_class.rowCount() == 4
    assert view.per_class.item(1, 0).text() == "circle"


def test_python_and_onnx_exports_match_the_trained_run(unet_run, tmp_path, capsys):
    from runtime.cli import main as cli_main

    for fmt, name in (("python", "model.py"), ("onnx", "model.onnx")):
        code = cli_main(["export", "shapes_unet", "--weights", str(unet_run / "best.pt"), "--format", fmt,
                         "-o", str(tmp_path / name)])
        out = capsys.readouterr().out
        assert code == 0 and "model: matches the in-app model" in out, out
    # the module's predict() gives a class id per pixel, as the run's model does
    import importlib.util

    spec = importlib.util.spec_from_file_location("seg_export", tmp_path / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.ShapesUnet()
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    images, _masks = draw_shapes(3, 1, 32, 32, 2, 0.08, seed=1)
    masks = module.predict(model, images)
    assert masks.shape == (3, 32, 32) and masks.dtype == torch.int64
    assert module.CLASSES == ["background", "circle", "square", "triangle"]


def test_project_with_mask_folder_round_trips(tmp_path, registry):
    proj = project(tiny_net(), recipe="segmentation")
    proj.data = DataSpec("mask_folder", {"path": "images", "masks": "masks"})
    save_project(proj, tmp_path / "p.dw.json")
    again = load_project(tmp_path / "p.dw.json", registry)
    assert again.training.recipe == "segmentation" and again.data == proj.data


def test_predict_gives_each_image_its_mask_and_class_shares(unet_run, tmp_path, capsys):
    from PIL import Image

    from runtime.cli import main as cli_main
    from runtime.predict import open_predictor

    images, _masks = draw_shapes(2, 1, 32, 32, 2, 0.08, seed=5)
    for k in range(2):
        Image.fromarray((images[k, 0] * 255).round().astype(np.uint8)).save(tmp_path / f"s{k}.png")
    rows = open_predictor(unet_run).predict([str(tmp_path)])
    assert [Path(r["input"]).name for r in rows] == ["s0.png", "s1.png"]
    for row in rows:
        mask = np.array(row["mask"])
        assert mask.shape == (32, 32)
        shares = [p["share"] for p in row["pixels"]]
        assert shares == pytest.approx(np.bincount(mask.reshape(-1), minlength=4) / 1024)
        assert [p["class"] for p in row["pixels"]] == ["background", "circle", "square", "triangle"]
    assert cli_main(["predict", str(unet_run), str(tmp_path / "s0.png")]) == 0
    assert "pixels per predicted class" in capsys.readouterr().out


def test_check_names_a_segmentation_head_with_too_few_classes(tmp_path, capsys):
    from runtime.cli import main as cli_main

    text = (ROOT / "assets" / "examples" / "shapes_unet.dw.json").read_text()
    text = text.replace('"params": {"classes": 4}', '"params": {"classes": 3}')
    text = text.replace('{"channels": 4, "kernel_size": 1}', '{"channels": 3, "kernel_size": 1}')
    (tmp_path / "three.dw.json").write_text(text)
    assert cli_main(["check", str(tmp_path / "three.dw.json")]) == 1
    out = capsys.readouterr().out
    assert "Segmentation head 'mask' has classes 3 but data source 'shapes' has 4 classes" in out
    assert "quick fix: Set classes to 4" in out


def test_shapes_never_overlap():
    images, masks = draw_shapes(60, 1, 24, 24, 4, 0.0, seed=3)
    squares = 0
    # without noise each shape has its own brightness; a square nothing covers fills its bounding box
    for image, mask in zip(images[:, 0], masks):
        for level in np.unique(image[mask > 0]):
            region = image == level
            assert len(np.unique(mask[region])) == 1
            if mask[region][0] == 2:
                rows, cols = np.nonzero(region)
                squares += 1
                assert region.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    assert squares > 30


def test_try_it_shows_the_pixel_shares_of_a_segmentation_row():
    from studio.runs.try_it import TryItWindow

    row = {"input": "a.png", "mask": [[0, 1]], "pixels": [{"class": "background", "share": 0.5},
                                                       {"class": "circle", "share": 0.5},
                                                       {"class": "square", "share": 0.0}]}
    assert TryItWindow._cells(None, row, None) == ["a.png", "pixels: background 50.0%, circle 50.0%", "", ""]


def test_a_sweep_of_a_segmentation_project_maximises_mean_iou():
    from runtime.sweep.sweep import resolve_metric

    proj = project(tiny_net(), recipe="segmentation")
    assert resolve_metric("auto", proj) == ("mean_iou", True)
    assert resolve_metric("mean_dice", proj) == ("mean_dice", True)
    assert resolve_metric("loss", proj) == ("loss", False)


def test_data_preview_draws_each_mask_over_its_image(qtbot):
    from runtime.data import SOURCES
    from runtime.train.masks import class_colour
    from studio.training.data_panel import _read_sample, image_grid

    sample = _read_sample(SOURCES["shapes"], {"samples": 30}, "segmentation", None, (1, 32, 32))
    assert sample.kind == "images" and sample.masks.shape == (24, 32, 32) and sample.labels == []
    picture = image_grid(sample.inputs, sample.labels, sample.pixel_range, sample.masks)
    colour = picture.pixelColor(4 + 28 * 0 + 1, 2 + 1)  # a corner of the first tile: background, grey
    assert colour.red() == colour.green() == colour.blue()
    tinted = 0
    for x in range(4, 60):
        for y in range(2, 58):
            c = picture.pixelColor(x, y)
            tinted += c.red() != c.green() or c.green() != c.blue()
    assert tinted > 20  # the first image's shapes are coloured by class
    assert class_colour(1) == (230, 25, 75)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the images' headers
def test_a_mask_with_more_pixels_than_pillow_allows_is_skipped_not_decoded(tmp_path, monkeypatch):
    from PIL import Image

    images, masks = write_folder(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # every 10x12 mask is now "too big"
    spec = DataSpec("mask_folder", {"path": str(images), "masks": str(masks), "classes": 3})
    from runtime.data.masks import read_mask

    with pytest.raises(Image.DecompressionBombWarning):  # 120 pixels: Pillow would only warn
        read_mask(masks / "s0.png")
    with pytest.raises(DataError, match="no image could be used with its mask: .*decompression bomb"):
        load_dataset(spec, TrainingConfig({"recipe": "segmentation"}), 0, input_shape=(1, 10, 12),
                     input_kind="image")
