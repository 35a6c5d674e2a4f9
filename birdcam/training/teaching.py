"""The photos `birdcam train --extend` teaches from: species, their labels and their files. Plain Python.

Three layouts are read: the Kaggle set's (split folders train/ valid/ test/ of class folders, with
its birds.csv giving scientific names), one folder of class folders named by scientific or common
name, and what `birdcam sightings --export-dataset` writes (class folders and a birds.csv of its
own). A test/ folder holds photos kept out of the fit to score the result; every other photo
teaches. Class folders that name the same species (by label, common or scientific name) are one class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from birdcam.errors import DatasetError
from birdcam.models.labels import parse_label
from birdcam.models.species import name_key
from birdcam.training.dataset import scientific_names_for

TEACHING_SPLITS = ("train", "valid", "val", "validation")
TEST_SPLIT = "test"


@dataclass
class TeachingClass:
    """One species of the teaching folder."""

    label: str
    """Its label as the extended model writes it: "Genus species (Common Name)", or one of the two names."""
    folders: list[str] = field(default_factory=list)
    """The class folder names it came from."""
    files: list[Path] = field(default_factory=list)
    """Photos that teach it."""
    test_files: list[Path] = field(default_factory=list)
    """Photos kept out of the fit to score it (the test/ split)."""

    @property
    def scientific_name(self) -> str:
        return parse_label(self.label).scientific_name

    @property
    def common_name(self) -> str:
        return parse_label(self.label).common_name


@dataclass(frozen=True)
class TeachingSet:
    """The species of a teaching folder, in folder-name order."""

    root: Path
    """The folder given with --data."""
    classes: tuple[TeachingClass, ...]
    """Its species, each with at least one photo."""
    empty: tuple[str, ...] = ()
    """Class folders without a photo: left out."""

    @property
    def photos(self) -> int:
        return sum(len(c.files) for c in self.classes)

    @classmethod
    def from_path(cls, root: Path) -> TeachingSet:
        """Reads the folder; DatasetError (one line, what to do) when it holds no usable class folder."""
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise DatasetError(f"--data {root} is a file; give a folder of class folders (one folder per species).")
        if not root.is_dir():
            raise DatasetError(f"teaching folder not found: {root}. Pass --data DIR with one folder per species.")
        splits = [root / name for name in TEACHING_SPLITS if (root / name).is_dir()]
        test = root / TEST_SPLIT
        folders = splits or [root]
        found: dict[str, TeachingClass] = {}
        for folder in [*folders, *([test] if test.is_dir() else [])]:
            names = _class_folders(folder)
            scientific = scientific_names_for(folder, tuple(names))
            for name, sci in zip(names, scientific):
                label = class_label(name, sci)
                key = _species_key(label)
                taught = found.setdefault(key, TeachingClass(label))
                if name not in taught.folders:
                    taught.folders.append(name)
                files = _images(folder / name)
                (taught.test_files if folder == test else taught.files).extend(files)
        classes = tuple(sorted((c for c in found.values() if c.files), key=lambda c: c.folders[0]))
        empty = tuple(name for c in found.values() if not c.files for name in c.folders)
        if not classes:
            raise DatasetError(
                f"{root} holds no photos in class folders. Put each species' photos in a folder named after it "
                "(its common or scientific name)."
            )
        return cls(root, classes, empty)


def class_label(folder_name: str, scientific_name: str = "") -> str:
    """The label of a class folder: `Genus species (Common Name)` when birds.csv gives the scientific name (the
    Kaggle set's upper-case names are title-cased), else the folder name read as a label."""
    name = " ".join(folder_name.split())
    scientific = " ".join(scientific_name.split()).capitalize()
    parsed = parse_label(name)
    if parsed.scientific_name and parsed.common_name:
        return name  # already "Genus species (Common)"
    if parsed.scientific_name:  # a lone binomial
        return parsed.scientific_name
    common = _title(name) if name.isupper() else name
    return f"{scientific} ({common})" if scientific else common


def _title(name: str) -> str:
    """ "BLACK-THROATED BLUE WARBLER" -> "Black-throated Blue Warbler", as the starter's labels write names."""
    return " ".join(word[:1].upper() + word[1:].lower() for word in name.split())


def _species_key(label: str) -> str:
    parsed = parse_label(label)
    return name_key(parsed.scientific_name or parsed.common_name or label)


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    """Every file of a class folder but hidden ones; one that does not decode is reported when it is read."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
