"""Label parsing on the real label files of the starter model."""

from __future__ import annotations

import pytest

from birdcam.errors import LabelError
from birdcam.models.labels import embedded_labels, parse_label, read_labels, sidecar_labels_path


@pytest.mark.parametrize(
    "text, common, scientific, background",
    [
        ("Aix galericulata (Mandarin Duck)", "Mandarin Duck", "Aix galericulata", False),
        ("Turdus migratorius (AMERICAN ROBIN)", "AMERICAN ROBIN", "Turdus migratorius", False),
        ("Aix galericulata", "", "Aix galericulata", False),
        ("MIKADO  PHEASANT", "MIKADO  PHEASANT", "", False),
        ("LOONEY BIRDS", "LOONEY BIRDS", "", False),
        ("background", "", "", True),
        ("__background__", "", "", True),
    ],
)
def test_parse_label(text, common, scientific, background):
    label = parse_label(text)
    assert (label.common_name, label.scientific_name, label.is_background) == (common, scientific, background)
    assert label.text == text


def test_coral_label_file(shared_dir):
    labels = read_labels(shared_dir / "models" / "aiy_birds_v1" / "labels.txt")
    assert len(labels) == 965
    assert labels[-1].is_background and not any(label.is_background for label in labels[:-1])
    assert labels[166].common_name == "Mandarin Duck" and labels[166].scientific_name == "Aix galericulata"
    # The two hybrids are written with a literal "\xd7" in the file: shown as the real sign.
    hybrids = [label for label in labels if "\u00d7" in label.scientific_name]
    assert len(hybrids) == 2 and not any("\\x" in label.text for label in labels)
    assert hybrids[0].display_name == "Pacific Black Duck \u00d7 Mallard hybrid"


def test_embedded_labels_of_the_starter_model(starter_model):
    labels, member = embedded_labels(starter_model)
    assert member == "probability-labels-en.txt"
    assert len(labels) == 965
    assert labels[166].scientific_name == "Aix galericulata" and labels[166].display_name == "Aix galericulata"
    assert labels[964].is_background  # written "None" in TF Hub's file


def test_sidecar_and_bad_files(tmp_path):
    model = tmp_path / "m.tflite"
    assert sidecar_labels_path(model) is None
    (tmp_path / "labels.txt").write_text("a\n")
    assert sidecar_labels_path(model) == tmp_path / "labels.txt"
    (tmp_path / "m.labels.txt").write_text("b\n")
    assert sidecar_labels_path(model) == tmp_path / "m.labels.txt"
    assert embedded_labels(tmp_path / "m.labels.txt") is None
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(LabelError, match="empty"):
        read_labels(tmp_path / "empty.txt")
    with pytest.raises(LabelError, match="not found"):
        read_labels(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes("Pica pica (Elster \u00e4)\n".encode("latin-1"))
    assert read_labels(tmp_path / "latin1.txt")[0].common_name == "Elster \u00e4"
