"""Species list files and how their names match a model's labels (the starter model's real label file)."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from birdcam.errors import BirdcamError, SpeciesListError
from birdcam.models.labels import read_labels
from birdcam.models.species import (
    SpeciesFilterReport,
    name_key,
    parse_species_list,
    read_species_list,
    read_species_lists,
    species_mask,
)


@pytest.fixture(scope="module")
def labels(shared_dir):
    return read_labels(shared_dir / "models" / "aiy_birds_v1" / "labels.txt")


def _index(labels, common_name: str) -> int:
    return next(i for i, label in enumerate(labels) if label.common_name == common_name)


def test_one_name_a_line_with_comments_blanks_and_any_case():
    text = (
        "# my feeder, spring list\n"
        "\n"
        "American Robin   # the one that keeps being called a European Robin\n"
        "   Turdus  merula\t\n"
        "AMERICAN ROBIN\n"  # the same name again, other case: kept once
        "#Pica pica\n"
        "Cooper's Hawk\r\n"
    )
    assert parse_species_list(text) == ("American Robin", "Turdus merula", "Cooper's Hawk")


def test_files_in_utf8_with_or_without_a_bom_and_utf16(tmp_path):
    names = "Eurasian Jay\nGroße Rohrdommel  # Botaurus stellaris\n"
    for encoding, data in (
        ("utf-8", names.encode()),
        ("utf-8-sig", names.encode("utf-8-sig")),
        ("utf-16", names.encode("utf-16")),
    ):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(data)
        assert read_species_list(path) == ("Eurasian Jay", "Große Rohrdommel"), encoding


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp, shared: tmp / "missing.txt", "species list not found: "),
        (lambda tmp, shared: tmp, "is a folder, not a species list"),
        (
            lambda tmp, shared: shutil.copy(shared / "images" / "birds" / "mandarin_duck.jpg", tmp / "birds.txt"),
            "is a JPEG image, not text",
        ),
        (
            lambda tmp, shared: (
                shared / "models" / "aiy_birds_v1" / "lite-model_aiy_vision_classifier_birds_V1_3.tflite"
            ),
            "is a TFLite model, not text",
        ),
        (lambda tmp, shared: _write(tmp / "zeros.txt", b"Pica pica\n\x00\x00\x01"), "is a binary file, not text"),
        (
            lambda tmp, shared: _write(tmp / "latin1.txt", "Gro\u00dfe Rohrdommel\n".encode("latin-1")),
            "is not UTF-8 text; save it as UTF-8",
        ),
        (lambda tmp, shared: _write(tmp / "empty.txt", b""), "names no species (it is empty or all comments)"),
        (
            lambda tmp, shared: _write(tmp / "comments.txt", b"# nothing yet\n\n   \n# still nothing\n"),
            "names no species",
        ),
    ],
)
def test_a_file_that_is_not_a_species_list_is_one_line(make, message, tmp_path, shared_dir):
    path = make(tmp_path, shared_dir)
    with pytest.raises(SpeciesListError) as caught:
        read_species_list(path)
    text = str(caught.value)
    assert message in text and str(path) in text
    assert "\n" not in text and "one species name a line" in text
    assert isinstance(caught.value, BirdcamError)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_both_files_as_the_engine_takes_them(tmp_path):
    (tmp_path / "allow.txt").write_text("Pica pica\nGarrulus glandarius\n", encoding="utf-8")
    (tmp_path / "deny.txt").write_text("Corvus corone\n", encoding="utf-8")
    lists = read_species_lists(allow=tmp_path / "allow.txt", deny=tmp_path / "deny.txt")
    assert (lists.allow, lists.deny) == (("Pica pica", "Garrulus glandarius"), ("Corvus corone",))
    nothing = read_species_lists()
    assert (nothing.allow, nothing.deny) == (None, ())


def test_names_match_scientific_common_and_kaggle_spellings(labels):
    kaggle = ["AMERICAN ROBIN", "DARK EYED JUNCO", "COOPERS HAWK", "turdus merula", "Merlin", "  falco   columbarius "]
    keep, report = species_mask(labels, 964, kaggle)
    expected = {
        _index(labels, name)
        for name in ("American Robin", "Dark-eyed Junco", "Cooper's Hawk", "Eurasian Blackbird", "Merlin")
    }
    assert set(np.flatnonzero(keep)) == expected | {964}
    assert report.unknown == () and report.warning is None
    assert report.listed == 6  # names, not species: "Merlin" and "Falco columbarius" are one
    assert report.masked == len(labels) - 6
    assert name_key("Cooper’s  Hawk") == name_key("COOPERS HAWK") == "coopers hawk"


def test_a_genus_stands_for_its_species(labels):
    keep, report = species_mask(labels, 964, ["GEOCOCCYX"])  # how the Kaggle set's birds.csv names its roadrunners
    assert {labels[i].common_name for i in np.flatnonzero(keep) if i != 964} == {
        "Greater Roadrunner",
        "Lesser Roadrunner",
    }
    assert report.unknown == ()


def test_unknown_names_are_reported_in_one_line(labels):
    names = [
        "Amethyst Woodstar",
        "American Robin",
        "Wattled Curassow",
        "Cape Glossy Starling",
        "Asian Dollard Bird",
        "Takahe",
    ]
    keep, report = species_mask(labels, 964, names)
    assert report.unknown == (
        "Amethyst Woodstar",
        "Wattled Curassow",
        "Cape Glossy Starling",
        "Asian Dollard Bird",
        "Takahe",
    )
    assert report.warning == (
        "the model does not know 5 of the 6 species listed (Amethyst Woodstar, Wattled Curassow, Cape Glossy Starling "
        "and 2 more); they are ignored"
    )
    assert set(np.flatnonzero(keep)) == {_index(labels, "American Robin"), 964}


def test_deny_wins_and_the_background_is_never_masked(labels):
    robin, blackbird = _index(labels, "American Robin"), _index(labels, "Eurasian Blackbird")
    keep, report = species_mask(labels, 964, ["American Robin", "Eurasian Blackbird"], ["turdus merula", "background"])
    assert set(np.flatnonzero(keep)) == {robin, 964}
    assert not keep[blackbird], "allowed by its common name, denied by its scientific name: the deny wins"
    keep, report = species_mask(labels, 964, None, ["European Robin"])
    assert keep[964] and not keep[_index(labels, "European Robin")] and keep.sum() == len(labels) - 1
    assert report.masked == 1
    assert species_mask(labels, 964, None, ()) == (None, SpeciesFilterReport())


def test_an_allow_list_the_model_knows_nothing_of_is_an_error(labels):
    with pytest.raises(SpeciesListError, match=r"none of the 2 species in the allow list \(Wattled Curassow, Takahe\)"):
        species_mask(labels, 964, ["Wattled Curassow", "Takahe"])


def test_the_kaggle_sample_names_match_twenty_known_species(labels, shared_dir):
    with (shared_dir / "birds525-sample" / "birds.csv").open(newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    scientific = {row["scientific name"] for row in rows}
    keep, report = species_mask(labels, 964, scientific)
    # 20 species the model knows, plus the two roadrunners of the genus GEOCOCCYX, plus the background.
    assert keep.sum() == 20 + 2 + 1
    assert sorted(report.unknown) == [
        "CALLIPHLOX AMETHYSTINA",
        "CRAX GLOBULOSA",
        "EURYSTOMUS ORIENTALIS",
        "LAMPROTORNIS NITENS",
    ]
