"""The starter's shipped extension (the Kaggle 525 species) and negative bank: applied to the cached starter once,
after checking every checksum; a damaged or foreign file keeps the plain starter with one message; the option for
the plain starter; the files match the starter they were built for and are rebuilt byte for byte."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from birdcam import paths
from birdcam.cli import main
from birdcam.models.classifier import Classifier
from birdcam.models.image import read_image
from birdcam.models.shipped import PLAIN_STARTER_VARIABLE, SHIPPED_EXTENSION, extend_starter
from birdcam.models.store import AIY_BIRDS_V1, resolve_model
from birdcam.training.negatives import SHIPPED_NEGATIVES, load_bank

UNKNOWN_TO_THE_STARTER = ("AMETHYST WOODSTAR", "ASIAN DOLLARD BIRD", "CAPE GLOSSY STARLING", "WATTLED CURASSOW")
"""Species of the Kaggle sample the plain starter does not know; the extension adds them."""


@pytest.fixture
def cached_starter(starter_model, monkeypatch):
    """The starter and its labels in the user cache, where the app downloads them; no model in models/."""
    monkeypatch.delenv(PLAIN_STARTER_VARIABLE, raising=False)
    folder = AIY_BIRDS_V1.path().parent
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(starter_model, AIY_BIRDS_V1.path())
    shutil.copyfile(starter_model.parent / "labels.txt", AIY_BIRDS_V1.labels_path())
    return AIY_BIRDS_V1.path()


def test_the_shipped_files_belong_to_the_starter_and_its_backbone(starter_model):
    from birdcam.models.features import FeatureReader

    manifest = json.loads(SHIPPED_EXTENSION.read_text(encoding="utf-8"))
    assert manifest["base_sha256"] == hashlib.sha256(starter_model.read_bytes()).hexdigest()
    labels = (starter_model.parent / "labels.txt").read_bytes()
    assert manifest["base_labels_sha256"] == hashlib.sha256(labels).hexdigest()
    bank = load_bank(SHIPPED_NEGATIVES)  # checks the rows against the manifest
    with FeatureReader(starter_model) as reader:
        assert bank.fingerprint == reader.fingerprint, "the bank is made for the starter's backbone: it is used"
        assert bank.features.shape[1] == reader.feature_size and len(bank.features) >= 50


def test_the_cached_starter_runs_extended_once_and_names_kaggle_species(cached_starter, shared_dir, capsys):
    resolved = resolve_model(download=False)
    assert resolved.path.parent.name == "kaggle525" and resolved.labels_path is None
    assert "extended with 300 species of the Kaggle set" in resolved.reason
    written = resolved.path.stat().st_mtime_ns
    assert resolve_model(download=False).path.stat().st_mtime_ns == written, "applied once, then reused"
    sample = shared_dir / "birds525-sample" / "valid"
    with Classifier.from_path(resolved.path, top_k=1) as extended, Classifier.from_path(cached_starter) as plain:
        assert extended.num_classes == 965 + 300 and extended.labels[964].is_background
        # Kaggle's cartoon class is no species: left out of the shipped extension.
        assert not any(label.common_name.upper() == "LOONEY BIRDS" for label in extended.labels)
        named = [
            extended.classify(read_image(sample / species / f"{n}.jpg")).top.label.common_name.upper()
            for species in UNKNOWN_TO_THE_STARTER
            for n in (3, 4, 5)  # photos 1 and 2 taught it
        ]
        duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
        assert extended.classify(duck).top.label.text == plain.classify(duck).top.label.text
    right = sum(name == species for name, species in zip(named, [s for s in UNKNOWN_TO_THE_STARTER for _ in range(3)]))
    assert right >= 5, named  # the plain starter names none of them; here 1,264 species compete for each photo
    assert main(["models"]) == 0
    said = capsys.readouterr().out
    assert "extended with 300 species of the Kaggle set" in said and "classes    1265 (background class: 964)" in said


def test_the_plain_starter_on_request(cached_starter, monkeypatch):
    monkeypatch.setenv(PLAIN_STARTER_VARIABLE, "1")
    resolved = resolve_model(download=False)
    assert resolved.path == cached_starter and "Kaggle" not in resolved.reason


@pytest.mark.parametrize("damage", ["rows", "starter"])
def test_a_damaged_extension_or_another_starter_keeps_the_plain_starter_with_one_message(
    cached_starter, tmp_path, damage
):
    shipped = tmp_path / "extensions"
    shutil.copytree(SHIPPED_EXTENSION.parent, shipped)
    if damage == "rows":
        rows = bytearray((shipped / "kaggle525.rows").read_bytes())
        rows[1000] ^= 0xFF
        (shipped / "kaggle525.rows").write_bytes(bytes(rows))
        expected = "kaggle525.rows does not match the checksum in kaggle525.json"
    else:
        content = bytearray(cached_starter.read_bytes())
        content[-1] ^= 0xFF  # the appended zip: the model still loads
        cached_starter.write_bytes(bytes(content))
        expected = "is not the starter model the extension was fitted for"
    plain = resolve_model(download=False, environ={"BIRDCAM_OFFLINE": "1", PLAIN_STARTER_VARIABLE: "1"})
    resolved = extend_starter(plain, {}, shipped / "kaggle525.json")
    assert resolved.path == cached_starter and resolved.labels_path == plain.labels_path
    assert resolved.reason.count("the Kaggle species extension was not applied") == 1 and expected in resolved.reason
    assert "\n" not in resolved.reason
    assert not (cached_starter.parent / "kaggle525" / cached_starter.name).exists()


def test_building_the_extension_is_deterministic(shared_dir, starter_model, tmp_path):
    """Two builds of a few species' extension, from a cold cache and from a warm one, give the same bytes (the
    whole shipped set is rebuilt and compared by `benchmarks/build_starter_extension.py --check`)."""
    from birdcam.training.extend import build_starter_extension

    refs = shared_dir / "birds525-refs"
    folder = tmp_path / "refs"
    (folder / "valid").mkdir(parents=True)
    shutil.copyfile(refs / "birds.csv", folder / "birds.csv")
    for species in (*UNKNOWN_TO_THE_STARTER, "MANDRIN DUCK"):
        shutil.copytree(refs / "valid" / species, folder / "valid" / species)
    built = []
    for n in (1, 2):
        manifest = tmp_path / f"build-{n}" / "few.json"
        manifest.parent.mkdir()
        build_starter_extension(
            starter_model, starter_model.parent / "labels.txt", folder, manifest, cache=paths.cache_dir() / "features"
        )
        built.append((manifest.read_bytes(), manifest.with_suffix(".rows").read_bytes()))
    assert built[0] == built[1]
    document = json.loads(built[0][0])
    assert len(document["labels"]) == 4 and document["refined"] == [index_of_mandarin_duck(starter_model)]


def index_of_mandarin_duck(starter_model) -> int:
    lines = (starter_model.parent / "labels.txt").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines) if line.startswith("Aix galericulata"))
