"""Finding classes, splits, scientific names and unreadable files; the decoder's colour handling."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from training_data import make_shapes_dataset

from birdcam.cli import main
from birdcam.errors import DatasetError
from birdcam.training.dataset import ImageFolderDataset, decode_resized, label_line

SMALL = {"train": 4, "valid": 2, "test": 2}


def test_kaggle_layout_keeps_class_names_byte_exact_and_reads_scientific_names(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", sizes=SMALL)

    dataset = ImageFolderDataset.from_path(root)

    assert dataset.classes == ("AMERICAN ROBIN", "BLACK-THROATED SPARROW", "LOONEY BIRDS", "MIKADO  PHEASANT")
    assert dataset.label_lines() == [
        "Turdus migratorius (AMERICAN ROBIN)",
        "Amphispiza bilineata (BLACK-THROATED SPARROW)",
        "LOONEY BIRDS",
        "Syrmaticus mikado (MIKADO  PHEASANT)",
    ]
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (16, 8, 8)
    mikado = dataset.classes.index("MIKADO  PHEASANT")
    assert all(
        f.parent.name == "MIKADO  PHEASANT" for f, t in zip(dataset.train.files, dataset.train.targets) if t == mikado
    )
    assert dataset.skipped == ()


def test_label_line_capitalizes_the_genus_only():
    assert label_line("AMERICAN ROBIN", "TURDUS MIGRATORIUS") == "Turdus migratorius (AMERICAN ROBIN)"
    assert label_line("LOONEY BIRDS", "") == "LOONEY BIRDS"


def test_corrupt_and_non_image_files_are_skipped_and_listed(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", sizes=SMALL)
    robin = root / "train" / "AMERICAN ROBIN"
    good = (robin / "1.jpg").read_bytes()
    (robin / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (robin / "notes.txt").write_text("not a photo")

    dataset = ImageFolderDataset.from_path(root)

    skipped = sorted(line.split(":")[0].rsplit("/", 1)[1] for line in dataset.skipped)
    assert skipped == ["notes.txt", "truncated.jpg"]
    assert not any(f.name in ("notes.txt", "truncated.jpg") for f in dataset.train.files)
    assert len(dataset.train) == 16


def test_grayscale_cmyk_and_alpha_images_decode_as_rgb(tmp_path):
    import cv2
    import tensorflow as tf
    from PIL import Image

    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # pure red in CMYK
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((30, 40), 90, np.uint8))
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128  # blue in BGRA, half transparent
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)

    cmyk, gray, alpha = (
        decode_resized(tf.constant(str(tmp_path / n)), 16).numpy() for n in ("cmyk.jpg", "gray.png", "alpha.png")
    )

    assert cmyk.shape == gray.shape == alpha.shape == (16, 16, 3)
    assert cmyk[8, 8, 0] > 200 and cmyk[8, 8, 1] < 50 and cmyk[8, 8, 2] < 50
    assert np.all(gray == 90)
    assert alpha[8, 8].tolist() == [0, 0, 255]


def test_an_empty_class_folder_is_an_error_before_training(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", sizes=SMALL)
    (root / "valid" / "EMPTY OWL").mkdir()
    (root / "train" / "EMPTY OWL").mkdir()

    with pytest.raises(DatasetError, match="EMPTY OWL.*empty"):
        ImageFolderDataset.from_path(root)


def test_a_class_of_only_corrupt_files_is_an_error(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", sizes=SMALL)
    for image in (root / "test" / "LOONEY BIRDS").iterdir():
        image.write_bytes(b"\xff\xd8 not really")

    with pytest.raises(DatasetError, match="LOONEY BIRDS.*no readable images"):
        ImageFolderDataset.from_path(root)


def test_a_missing_split_is_a_one_line_cli_error(shared_dir, tmp_path, capsys):
    # The shared sample holds only valid/: as a Kaggle layout it lacks train/ and test/.
    code = main(
        ["train", "--data", str(shared_dir / "birds525-sample"), "--out", str(tmp_path / "run"), "--no-pretrained"]
    )

    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("birdcam: error: ") and "train/, test/" in error and "\n" not in error
    assert not (tmp_path / "run").exists()


def test_single_folder_mode_splits_every_class_of_the_real_sample(shared_dir):
    sample = shared_dir / "birds525-sample" / "valid"

    first = ImageFolderDataset.from_path(sample, val_split=0.2, test_split=0.2, seed=3)
    again = ImageFolderDataset.from_path(sample, val_split=0.2, test_split=0.2, seed=3)

    assert len(first.classes) == 25 and "AMERICAN ROBIN" in first.classes
    assert first.label_lines()[first.classes.index("AMERICAN ROBIN")] == "Turdus migratorius (AMERICAN ROBIN)"
    assert (len(first.train), len(first.valid), len(first.test)) == (75, 25, 25)
    assert sorted(first.valid.targets) == list(range(25)) and sorted(first.test.targets) == list(range(25))
    assert not set(first.train.files) & set(first.valid.files) | set(first.train.files) & set(first.test.files)
    assert first == again


def test_split_fractions_with_a_kaggle_layout_are_refused(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", sizes=SMALL)
    with pytest.raises(DatasetError, match="--val-split"):
        ImageFolderDataset.from_path(root, val_split=0.2)


def test_a_model_that_cannot_be_built_is_refused_before_the_data_is_read(tmp_path, capsys):
    root = make_shapes_dataset(tmp_path / "data", sizes=SMALL)
    shutil.rmtree(root / "test")  # would be an error too, but the flags are checked first

    code = main(
        [
            "train",
            "--data",
            str(root),
            "--out",
            str(tmp_path / "run"),
            "--backbone",
            "custom",
            "--image-size",
            "30",
            "--patch-size",
            "8",
        ]
    )

    assert code == 2
    assert "multiple of the patch size 8" in capsys.readouterr().err
