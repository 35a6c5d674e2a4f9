"""Image folders as training data: the Kaggle "BIRDS 525 SPECIES" layout or one folder of class folders.

Finding classes, files and splits is plain Python; checking that files decode and building the
tf.data pipelines import TensorFlow inside the functions that need it.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from birdcam.errors import DatasetError
from birdcam.util.fileio import write_text_atomically

SPLITS = ("train", "valid", "test")
NAMES_FILE = "birds.csv"
SHUFFLE_BUFFER = 1024  # decoded images reshuffled each epoch (~150 MB at 224 px)
_SPLIT_ALIASES = {"train": ("train",), "valid": ("valid", "val", "validation"), "test": ("test",)}


@dataclass(frozen=True)
class Split:
    """The images of one split and their class indices."""

    name: str
    """"train", "valid" or "test"."""
    files: tuple[Path, ...]
    """Image files, in a stable order."""
    targets: tuple[int, ...]
    """Class index of each file."""

    def __len__(self) -> int:
        return len(self.files)

    def as_dict(self) -> dict:
        return {"name": self.name, "files": [str(f) for f in self.files], "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, data: dict) -> Split:
        return cls(data["name"], tuple(Path(f) for f in data["files"]), tuple(int(t) for t in data["targets"]))


@dataclass(frozen=True)
class ImageFolderDataset:
    """Classes and the train / valid / test splits of a bird image folder, corrupt files left out."""

    root: Path
    """The folder given with --data."""
    classes: tuple[str, ...]
    """Class names, byte-exact from the folder names, sorted: output i of the model is classes[i]."""
    scientific_names: tuple[str, ...]
    """Scientific name of each class from birds.csv ("Turdus migratorius"), "" when unknown."""
    train: Split
    """Images the model learns from."""
    valid: Split
    """Images that pick the best epoch, check the export and calibrate the threshold."""
    test: Split
    """Images the report scores."""
    skipped: tuple[str, ...]
    """Files left out, one "path: reason" each."""

    @classmethod
    def from_path(
        cls,
        root: str | Path,
        *,
        val_split: float | None = None,
        test_split: float | None = None,
        seed: int = 0,
    ) -> ImageFolderDataset:
        """Reads a Kaggle layout (train/ valid/ test/) or one folder of class folders split by the fractions.

        Every file is decoded once with TensorFlow's decoder (the one training uses); failures are skipped.
        """
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DatasetError(
                f"dataset folder not found: {root}. Pass --data DIR with train/ valid/ test/ or class folders."
            )
        split_dirs = _split_folders(root)
        if split_dirs:
            if val_split is not None or test_split is not None:
                raise DatasetError(
                    f"{root} already has train/ valid/ test/ folders; drop --val-split / --test-split "
                    "or point --data at one folder of class folders."
                )
            missing = [name for name in SPLITS if name not in split_dirs]
            if missing:
                raise DatasetError(
                    f"{root} has no {'/, '.join(missing)}/ folder: the Kaggle layout needs train/, valid/ and test/; "
                    "or point --data at one folder of class folders and use --val-split / --test-split."
                )
            per_split = {name: class_folders(split_dirs[name]) for name in SPLITS}
            classes = tuple(sorted(per_split["train"]))
            for name in ("valid", "test"):
                extra = sorted(set(per_split[name]) - set(classes))
                if extra:
                    raise DatasetError(
                        f"{split_dirs[name]} has classes that train/ lacks: {_names(extra)}. "
                        "Add their training images or remove them."
                    )
        else:
            per_class = class_folders(root)
            classes = tuple(sorted(per_class))
            per_split = None
        if not classes:
            raise DatasetError(f"{root} holds no class folders. Put each species' images in a folder named after it.")
        if len(classes) < 2:
            raise DatasetError(
                f"{root} holds one class ({classes[0]!r}); a classifier needs at least two class folders."
            )

        all_files = [
            f for files in (per_split or {"all": per_class}).values() for listed in files.values() for f in listed
        ]
        reasons = dict(zip(all_files, undecodable_reasons(all_files)))
        skipped = tuple(f"{path}: {reason}" for path, reason in reasons.items() if reason)

        def good(files: list[Path]) -> list[Path]:
            return [f for f in files if not reasons[f]]

        if per_split is not None:
            splits = []
            for name in SPLITS:
                files, targets = [], []
                for index, class_name in enumerate(classes):
                    kept = good(per_split[name].get(class_name, []))
                    if not kept:
                        raise DatasetError(
                            f"class {class_name!r} has no readable images in {split_dirs[name]}. "
                            "Add images or remove the class from every split."
                        )
                    files += kept
                    targets += [index] * len(kept)
                splits.append(Split(name, tuple(files), tuple(targets)))
            train, valid, test = splits
        else:
            train, valid, test = _split_per_class(
                {name: good(per_class[name]) for name in classes},
                classes,
                root,
                0.1 if val_split is None else val_split,
                0.1 if test_split is None else test_split,
                seed,
            )
        return cls(root, classes, scientific_names_for(root, classes), train, valid, test, skipped)

    def label_lines(self) -> list[str]:
        """One label per class: "Turdus migratorius (AMERICAN ROBIN)" when birds.csv names it, else the class name."""
        return [label_line(name, scientific) for name, scientific in zip(self.classes, self.scientific_names)]

    def as_dict(self) -> dict:
        return {
            "root": str(self.root),
            "classes": list(self.classes),
            "scientific_names": list(self.scientific_names),
            "splits": [split.as_dict() for split in (self.train, self.valid, self.test)],
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ImageFolderDataset:
        train, valid, test = (Split.from_dict(s) for s in data["splits"])
        return cls(
            Path(data["root"]),
            tuple(data["classes"]),
            tuple(data["scientific_names"]),
            train,
            valid,
            test,
            tuple(data["skipped"]),
        )

    def save(self, path: Path) -> None:
        """Writes the exact file lists, so a resumed run trains on the same split."""
        write_text_atomically(path, json.dumps(self.as_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> ImageFolderDataset:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def label_line(class_name: str, scientific_name: str) -> str:
    """`Genus species (CLASS NAME)`, the class name kept byte-exact; the bare class name without a scientific name."""
    scientific = " ".join(scientific_name.split()).capitalize()
    return f"{scientific} ({class_name})" if scientific else class_name


def undecodable_reasons(files: Sequence[Path]) -> list[str | None]:
    """Decodes every file with TensorFlow's decoder (the one training uses): None if it decodes, else why not."""
    import tensorflow as tf

    index = tf.data.Dataset.range(len(files))
    paths = tf.constant([str(f) for f in files], dtype=tf.string) if files else tf.constant([], dtype=tf.string)

    def decode(i):
        image = tf.io.decode_image(tf.io.read_file(paths[i]), channels=3, expand_animations=False)
        return i, tf.shape(image)

    decoded = index.map(decode, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    good = {int(i) for i, _ in decoded.as_numpy_iterator()}
    return [None if i in good else "not a readable JPEG/PNG/BMP/GIF image" for i in range(len(files))]


def _split_folders(root: Path) -> dict[str, Path]:
    found = {}
    for split, aliases in _SPLIT_ALIASES.items():
        for alias in aliases:
            if (root / alias).is_dir():
                found[split] = root / alias
                break
    return found


def class_folders(folder: Path) -> dict[str, list[Path]]:
    """{class name: files} of a folder of class folders; an empty class folder is a DatasetError."""
    classes = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in class_dir.iterdir() if p.is_file())
        if not files:
            raise DatasetError(f"class folder {class_dir} is empty. Add its images or delete the folder.")
        classes[class_dir.name] = files
    return classes


def _split_per_class(
    per_class: dict[str, list[Path]],
    classes: tuple[str, ...],
    root: Path,
    val_split: float,
    test_split: float,
    seed: int,
) -> tuple[Split, Split, Split]:
    if not (0 < val_split < 1 and 0 < test_split < 1 and val_split + test_split < 1):
        raise DatasetError(
            f"--val-split {val_split} and --test-split {test_split} must each be in (0, 1) and add up to less than 1."
        )
    parts: dict[str, tuple[list[Path], list[int]]] = {name: ([], []) for name in SPLITS}
    for index, name in enumerate(classes):
        files = list(per_class[name])
        if len(files) < 3:
            raise DatasetError(
                f"class {name!r} in {root} has {len(files)} readable image(s); "
                "splitting needs at least 3 (train, valid, test)."
            )
        random.Random(f"{seed}:{name}").shuffle(files)
        n_valid = min(max(1, round(len(files) * val_split)), len(files) - 2)
        n_test = min(max(1, round(len(files) * test_split)), len(files) - 1 - n_valid)
        chunks = {
            "valid": files[:n_valid],
            "test": files[n_valid : n_valid + n_test],
            "train": files[n_valid + n_test :],
        }
        for split, chunk in chunks.items():
            parts[split][0].extend(sorted(chunk))
            parts[split][1].extend([index] * len(chunk))
    train, valid, test = (Split(name, tuple(parts[name][0]), tuple(parts[name][1])) for name in SPLITS)
    return train, valid, test


def scientific_names_for(root: Path, classes: tuple[str, ...]) -> tuple[str, ...]:
    """From birds.csv in the data folder or its parent (Kaggle's `labels` and `scientific name` columns)."""
    csv_path = next((p for p in (root / NAMES_FILE, root.parent / NAMES_FILE) if p.is_file()), None)
    if csv_path is None:
        return ("",) * len(classes)
    names: dict[str, str] = {}
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                label, scientific = row.get("labels") or "", (row.get("scientific name") or "").strip()
                if label and scientific:
                    names.setdefault(label, scientific)
                    names.setdefault(" ".join(label.split()), scientific)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(
            f"cannot read {csv_path}: {error}. Fix or remove it (it only adds scientific names)."
        ) from None
    return tuple(names.get(name) or names.get(" ".join(name.split()), "") for name in classes)


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- tf.data pipelines (TensorFlow imported by the caller's module) ---------------------------


def decode_resized(path, image_size: int):
    """Reads one image file as uint8 RGB [size, size, 3]: grayscale, palette, alpha and CMYK become RGB."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def augmentation(seed: int):
    """Flip, small rotation / zoom / contrast, on 0-255 pixels (the model adds GaussianNoise itself)."""
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, fill_mode="reflect", seed=seed),
            keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed),
            keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed),
        ],
        name="augmentation",
    )


def image_pipeline(
    split: Split, image_size: int, batch_size: int, *, training: bool, cache: str | Path | None, seed: int = 0
):
    """Batches of (float32 0-255 RGB images, class index): parallel decode, cache, shuffle and augment for training,
    prefetch.

    `cache` is "" for memory, a file prefix for a disk cache, or None for no cache.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    files = tf.constant([str(f) for f in split.files], dtype=tf.string)
    targets = tf.constant(split.targets, dtype=tf.int32)
    dataset = tf.data.Dataset.from_tensor_slices((files, targets))
    if training:  # files are sorted by class: mix them once, so the cache holds a mixed order
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=False)
    dataset = dataset.map(
        lambda f, t: (decode_resized(f, image_size), t), num_parallel_calls=autotune, deterministic=True
    )
    if cache is not None:
        dataset = dataset.cache(str(cache))
    if training:
        dataset = dataset.shuffle(min(len(split), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(lambda x, t: (tf.cast(x, tf.float32), t), num_parallel_calls=autotune)
    if training:
        augment = augmentation(seed)
        dataset = dataset.map(lambda x, t: (augment(x, training=True), t), num_parallel_calls=autotune)
    return dataset.prefetch(autotune)


def decoded_images(split: Split, image_size: int):
    """The images of a split one by one, uint8 RGB at the model's size, in file order (what training sees)."""
    import tensorflow as tf

    files = tf.data.Dataset.from_tensor_slices(tf.constant([str(f) for f in split.files], dtype=tf.string))
    images = files.map(lambda f: decode_resized(f, image_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return images.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def resized_images(split: Split, image_size: int):
    """All images of a small split as one uint8 array [n, size, size, 3]."""
    import numpy as np

    return np.stack(list(decoded_images(split, image_size)))
