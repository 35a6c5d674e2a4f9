"""`birdcam train --extend`: teach a TFLite classifier new species in seconds, from a few photos, on a CPU.

The backbone is left as it is; only its classifier layer changes (see `birdcam.models.extension`).
Each photo's feature vector comes from the model itself (LiteRT, cached by content), and the rows
are fitted in closed form, chosen by measurement (docs/decisions.md, `benchmarks/extend_species.py`):

- a new species gets the direction of its mean feature (over its photos, mirrored and closer
  views), scaled to NEW_ROW_SCALE of the model's mean row length, and a bias of NEW_BIAS;
- a species the model knows gets KNOWN_GAIN x its mean feature added to its row: reference
  photos of a species make the model better at it;
- then each new row's bias is lowered until, on every picture without a bird (`negatives`), its
  probability under the extended model stays under NEGATIVE_LIMIT, and each refined row's under
  that or what it was before: a species taught from one photo must not take a cat for itself.

The first two are stated in units of the model's typical logit (mean row length x mean feature
length), so they hold for any model. Logistic regression on the cached features, with the old rows
fixed, overfits one or two photos; fitting biases on top changes nothing measurable. Plain Python and
NumPy: no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from birdcam.errors import DatasetError, SourceError
from birdcam.models.card import ModelCard
from birdcam.models.extension import LayerChange, extended_model
from birdcam.models.features import VIEWS, FeatureReader, PhotoFeatures
from birdcam.models.labels import Label, parse_label
from birdcam.models.litert import check_tflite_file
from birdcam.models.species import name_key
from birdcam.models.tflite_edit import TFLiteModel
from birdcam.training.installing import install_decision
from birdcam.training.negatives import SHIPPED_NEGATIVES, negative_features
from birdcam.training.teaching import TeachingClass, TeachingSet
from birdcam.util.fileio import check_output_folder, write_atomically, write_text_atomically
from birdcam.util.progress import Progress

NEW_ROW_SCALE = 0.8
"""Length of a new species' row, as a fraction of the model's mean row length."""
NEW_BIAS = 0.0865
"""Bias of a new species' row before the negatives cap it, in units of the model's typical logit (about 2.0 for the
starter model)."""
KNOWN_GAIN = 0.433
"""Added to the row of a species the model knows: this x its mean feature / the mean feature length, in units of
the model's typical logit (about 10 / the mean feature length squared for the starter model)."""
NEGATIVE_LIMIT = 0.05
"""The most probability a new species may get on a picture without a bird."""
LOGIT_MARGIN = 1.25
"""A quantized logits output is widened to this x the span of logits seen on the teaching photos."""


@dataclass(frozen=True)
class ExtendOptions:
    """What `birdcam train --extend` was asked for."""

    model: Path
    """The .tflite classifier to extend."""
    data: Path
    """The teaching folder."""
    out: Path
    """The run folder written: model.tflite, model.json, labels.txt."""
    install: bool | None = None
    """True: install into models/; False: never; None: only when it is at least as good as the model it replaces."""
    num_threads: int = 2
    """CPU threads LiteRT may use for the features."""
    cache: Path | None = None
    """Feature cache folder; None: the user cache's."""
    negatives: tuple[Path, ...] = (SHIPPED_NEGATIVES,)
    """Manifests of negative banks (pictures without a bird); the one made for the model's backbone is used."""


@dataclass(frozen=True)
class Taught:
    """One class of the teaching folder and where it goes in the extended model."""

    source: TeachingClass
    """Its folder(s) and photos."""
    index: int
    """Its output in the extended model (an old output when the model knew the species)."""
    features: np.ndarray
    """float32 [photos, views, features] of its readable photos."""

    @property
    def known(self) -> bool:
        return self.index >= 0 and self.features.shape[0] > 0


@dataclass(frozen=True)
class ExtendResult:
    """What an extension did."""

    model: Path
    """The extended model in the run folder."""
    card: ModelCard
    """Its model card."""
    added: tuple[str, ...]
    """Labels of the new species."""
    refined: tuple[str, ...]
    """Labels of the species the model knew that the photos refined."""
    photos: int
    """Photos that taught it."""
    skipped: tuple[str, ...]
    """Photos that could not be read, "path: why" each."""
    accuracy: float | None
    """Top-1 of the extended model on the photos it was checked on (test/, else each photo left out in turn)."""
    replaced_accuracy: float | None
    """Top-1 of the model it replaces on the same photos."""
    checked_photos: int
    """How many photos the two were compared on."""
    installed: Path | None
    """Where it was installed in models/, or None."""
    install_reason: str
    """One sentence: why it was or was not installed."""
    seconds: float
    """Wall time of the whole extension."""
    change: LayerChange
    """What was fitted: the rows appended and refined."""
    empty: tuple[str, ...] = ()
    """Class folders without a photo, left out."""


@dataclass(frozen=True)
class RowFit:
    """The closed-form fit in one model's units: its mean row length and the teaching photos' mean feature length."""

    row_length: float
    """Mean length of the classifier layer's rows."""
    feature_length: float
    """Mean length of the taught classes' mean features."""

    @classmethod
    def of(cls, weights: np.ndarray, means: Sequence[np.ndarray]) -> RowFit:
        lengths = [float(np.linalg.norm(mean)) for mean in means]
        return cls(float(np.linalg.norm(weights, axis=1).mean()), float(np.mean(lengths)) if lengths else 1.0)

    @property
    def logit_unit(self) -> float:
        return self.row_length * self.feature_length

    @property
    def new_bias(self) -> float:
        return NEW_BIAS * self.logit_unit

    def new_rows(self, means: np.ndarray) -> np.ndarray:
        """[n, features] rows of new species from their mean features [n, features]."""
        lengths = np.maximum(np.linalg.norm(means, axis=-1, keepdims=True), 1e-12)
        return (NEW_ROW_SCALE * self.row_length * means / lengths).astype(np.float32)

    def known_rows(self, rows: np.ndarray, means: np.ndarray) -> np.ndarray:
        """[n, features] refined rows of known species from their rows and mean features."""
        gain = KNOWN_GAIN * self.logit_unit / max(self.feature_length, 1e-12) ** 2
        return (rows + gain * means).astype(np.float32)


def mean_feature(features: np.ndarray, views: Sequence[int]) -> np.ndarray:
    """The mean of the given views over every photo of [photos, views, features]."""
    return features[:, list(views)].reshape(-1, features.shape[-1]).mean(0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of [n, classes] logits."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def capped_biases(
    weights: np.ndarray, bias: np.ndarray, rows: np.ndarray, negatives: np.ndarray, limits: np.ndarray
) -> np.ndarray:
    """`bias` with the entries of `rows` lowered just enough that on every negative each row's probability under the
    whole layer stays under its limit (`limits` [negatives, rows]). Capping one row gives the others a little room, so
    the caps are computed a few times over."""
    bias = np.asarray(bias, np.float64).copy()
    if not len(rows) or not len(negatives):
        return bias.astype(np.float32)
    products = negatives.astype(np.float64) @ weights.astype(np.float64).T  # [negatives, classes]
    odds = np.log(limits / (1.0 - limits))
    for _ in range(3):
        logits = products + bias
        top = logits.max(axis=1, keepdims=True)
        exp = np.exp(logits - top)
        others = np.maximum(exp.sum(axis=1, keepdims=True) - exp[:, rows], 1e-300)
        room = odds + np.log(others) + top - products[:, rows]
        bias[rows] = np.minimum(bias[rows], room.min(axis=0))
    return bias.astype(np.float32)


def fitted_change(
    weights: np.ndarray,
    bias: np.ndarray,
    taught: Sequence[Taught],
    labels: Sequence[str],
    views: Sequence[int],
    negatives: np.ndarray | None = None,
) -> LayerChange:
    """The closed-form change for the taught classes (see the module docstring); `labels` of the new ones, in the
    order of their indices; `views` the indices of the views averaged; `negatives` [n, features] pictures without a
    bird that cap the biases."""
    means = [mean_feature(t.features, views) for t in taught]
    fit = RowFit.of(weights, means)
    size = weights.shape[1]
    new = sorted(((t.index, mean) for t, mean in zip(taught, means) if t.index >= len(weights)), key=lambda n: n[0])
    known = [(t.index, mean) for t, mean in zip(taught, means) if t.index < len(weights)]
    refined = np.array([index for index, _ in known], np.int64)
    new_means = np.array([mean for _, mean in new], np.float32).reshape(len(new), size)
    known_means = np.array([mean for _, mean in known], np.float32).reshape(len(known), size)
    change = LayerChange(
        labels=tuple(labels),
        weights=fit.new_rows(new_means),
        bias=np.full(len(new), fit.new_bias, np.float32),
        refined=refined,
        refined_weights=fit.known_rows(weights[refined], known_means),
        refined_bias=bias[refined].astype(np.float32),
    )
    all_weights, all_bias = change.applied_to(weights, bias)
    if negatives is not None and len(negatives):
        old = softmax(negatives @ weights.T + bias)  # what the model gave each negative before
        added = np.arange(len(weights), len(all_weights))
        limits = np.concatenate(
            [np.maximum(NEGATIVE_LIMIT, old[:, refined]), np.full((len(negatives), len(added)), NEGATIVE_LIMIT)], axis=1
        )
        all_bias = capped_biases(all_weights, all_bias, np.concatenate([refined, added]), negatives, limits)
        change = dataclasses.replace(change, bias=all_bias[added], refined_bias=all_bias[refined])
    seen = np.concatenate([t.features[:, 0] for t in taught]) @ all_weights.T + all_bias
    low, high = float(seen.min()), float(seen.max())
    middle, half = (low + high) / 2, (high - low) / 2 * LOGIT_MARGIN
    return dataclasses.replace(change, logit_range=(middle - half, middle + half))


def match_known(teaching: Sequence[TeachingClass], labels: Sequence[Label]) -> list[int]:
    """The old output each class is (-1 for a species the model does not know): by label text, common name,
    scientific name, or a bare genus that names exactly one of the model's species."""
    by_text = {label.text: i for i, label in enumerate(labels)}
    by_name: dict[str, int] = {}
    genera: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        if label.is_background:
            continue
        for name in (label.common_name, label.scientific_name):
            if name:
                by_name.setdefault(name_key(name), i)
        if " " in label.scientific_name:
            genera.setdefault(name_key(label.scientific_name.split()[0]), []).append(i)
    found = []
    for taught in teaching:
        parsed = parse_label(taught.label)
        index = by_text.get(taught.label)
        for name in (parsed.scientific_name, parsed.common_name, *taught.folders):
            if index is None and name:
                index = by_name.get(name_key(name))
        if index is None and parsed.scientific_name and " " not in parsed.scientific_name:
            species = genera.get(name_key(parsed.scientific_name), [])
            index = species[0] if len(species) == 1 else None
        found.append(-1 if index is None else index)
    return found


def read_features(reader: FeatureReader, classes: Sequence[TeachingClass], *, test: bool = False):
    """[[PhotoFeatures] per class] of the classes' teaching (or test) photos, and the unreadable ones ("path: why")."""
    files = [(i, path) for i, c in enumerate(classes) for path in (c.test_files if test else c.files)]
    found: list[list[PhotoFeatures]] = [[] for _ in classes]
    skipped = []
    with Progress(len(files), "extend", "test photos" if test else "photos") as progress:
        for index, path in progress.track(files):
            try:
                found[index].append(reader.photo(path))
            except SourceError as error:
                skipped.append(str(error))
    return found, skipped


def stacked(photos: Sequence[PhotoFeatures], feature_size: int) -> np.ndarray:
    """float32 [photos, views, features]."""
    if not photos:
        return np.zeros((0, len(VIEWS), feature_size), np.float32)
    return np.stack([p.features for p in photos]).astype(np.float32)


def leave_one_out_hits(
    weights: np.ndarray, bias: np.ndarray, change: LayerChange, taught: Sequence[Taught], views: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(extended model right, old model right) on each photo of a class with two or more photos, the extended
    model's row of that class fitted without the photo (all views of it left out; the biases as fitted)."""
    full_weights, full_bias = change.applied_to(weights, bias)
    fit = RowFit.of(weights, [mean_feature(t.features, views) for t in taught])
    chosen = [t for t in taught if len(t.features) >= 2]
    if not chosen:
        return np.zeros(0, bool), np.zeros(0, bool)
    photos = np.concatenate([t.features[:, 0] for t in chosen])
    targets = np.concatenate([np.full(len(t.features), t.index) for t in chosen])
    rows = []
    for t in chosen:
        per_photo = t.features[:, list(views)].sum(axis=1)  # [photos, features]
        means = (per_photo.sum(axis=0) - per_photo) / ((len(t.features) - 1) * len(views))
        if t.index >= len(weights):
            rows.append(fit.new_rows(means))
        else:
            rows.append(fit.known_rows(np.broadcast_to(weights[t.index], means.shape), means))
    logits = photos @ full_weights.T + full_bias
    everywhere = np.arange(len(photos))
    logits[everywhere, targets] = np.einsum("ij,ij->i", np.concatenate(rows), photos) + full_bias[targets]
    extended = logits.argmax(axis=1) == targets
    old = ((photos @ weights.T + bias).argmax(axis=1) == targets) & (targets < len(weights))
    return extended, old


def test_hits(
    weights: np.ndarray, bias: np.ndarray, change: LayerChange, taught: Sequence[Taught], tests: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(extended model right, old model right) on the test photos of each class (their "photo" view)."""
    full_weights, full_bias = change.applied_to(weights, bias)
    photos = np.concatenate([features[:, 0] for features in tests])
    targets = np.concatenate([np.full(len(features), t.index) for t, features in zip(taught, tests)])
    extended = (photos @ full_weights.T + full_bias).argmax(axis=1) == targets
    old = ((photos @ weights.T + bias).argmax(axis=1) == targets) & (targets < len(weights))
    return extended, old


def extend(options: ExtendOptions) -> ExtendResult:
    """Reads the photos, fits, writes the run folder and installs by the rule of `options.install`."""
    started = time.perf_counter()
    check_tflite_file(Path(options.model))
    check_output_folder(options.out, "--out")
    if (options.out / "model.tflite").exists():
        raise DatasetError(f"{options.out} already holds a model; pick another --out.")
    teaching = TeachingSet.from_path(options.data)
    views = range(len(VIEWS))
    model = TFLiteModel.from_path(Path(options.model))
    with FeatureReader(options.model, num_threads=options.num_threads, cache=options.cache, model=model) as reader:
        labels = reader.classifier.labels
        weights, bias = reader.model.layer_arrays(reader.layer)
        photos, skipped = read_features(reader, teaching.classes)
        tests, test_skipped = read_features(reader, teaching.classes, test=True)
        negatives = negative_features(reader, options.negatives)
        size = reader.feature_size
    indices = match_known(teaching.classes, labels)
    taught: list[Taught] = []
    new_labels: list[str] = []
    test_features: list[np.ndarray] = []
    merged: dict[int, int] = {}
    for source, index, found, test in zip(teaching.classes, indices, photos, tests):
        if not found:
            continue
        if index >= 0 and index in merged:  # two folders of one known species: one class
            at = merged[index]
            previous = taught[at]
            taught[at] = Taught(previous.source, index, np.concatenate([previous.features, stacked(found, size)]))
            test_features[at] = np.concatenate([test_features[at], stacked(test, size)])
            continue
        if index < 0:
            index = len(labels) + len(new_labels)
            new_labels.append(source.label)
        merged[index] = len(taught)
        taught.append(Taught(source, index, stacked(found, size)))
        test_features.append(stacked(test, size))
    if not taught:
        raise DatasetError(f"no photo in {teaching.root} could be read; {skipped[0] if skipped else ''}".rstrip("; "))
    change = fitted_change(weights, bias, taught, new_labels, views, negatives)
    content = extended_model(Path(options.model), [label.text for label in labels], change, model)
    if any(len(f) for f in test_features):
        extended_hits, old_hits = test_hits(weights, bias, change, taught, test_features)
        checked_on = "its test/ photos"
    else:
        extended_hits, old_hits = leave_one_out_hits(weights, bias, change, taught, views)
        checked_on = "each photo left out of the fit in turn"
    accuracy = float(extended_hits.mean()) if len(extended_hits) else None
    replaced_accuracy = float(old_hits.mean()) if len(old_hits) else None
    added = tuple(new_labels)
    refined = tuple(labels[t.index].text for t in taught if t.index < len(labels))
    photos_used = sum(len(t.features) for t in taught)
    card = extension_card(
        options, content, added, refined, photos_used, accuracy, replaced_accuracy, len(extended_hits), checked_on
    )
    write_run(options.out, content, [label.text for label in labels] + list(added), card)
    installed, reason = install_if_better(options, accuracy, replaced_accuracy, len(extended_hits), checked_on)
    return ExtendResult(
        model=options.out / "model.tflite",
        card=card,
        added=added,
        refined=refined,
        photos=photos_used,
        skipped=tuple(skipped + test_skipped),
        accuracy=accuracy,
        replaced_accuracy=replaced_accuracy,
        checked_photos=len(extended_hits),
        installed=installed,
        install_reason=reason,
        seconds=time.perf_counter() - started,
        change=change,
        empty=teaching.empty,
    )


def extension_card(
    options: ExtendOptions,
    content: bytes,
    added: Sequence[str],
    refined: Sequence[str],
    photos: int,
    accuracy: float | None,
    replaced_accuracy: float | None,
    checked: int,
    checked_on: str,
) -> ModelCard:
    """The base model's card (how to feed it) with what the extension added, from which photos, and its figures."""
    base = ModelCard.of_model(Path(options.model)) or ModelCard()
    extension = {
        "base_model": Path(options.model).name,
        "base_sha256": hashlib.sha256(Path(options.model).read_bytes()).hexdigest(),
        "data": str(Path(options.data).expanduser().resolve()),
        "photos": photos,
        "added": list(added),
        "refined": list(refined),
        "method": "closed form: new rows = mean feature direction, known rows + mean feature, biases capped on "
        "pictures without a bird (birdcam train --extend)",
        "checked_on": checked_on,
        "checked_photos": checked,
        "top1": accuracy,
        "top1_of_the_model_replaced": replaced_accuracy,
    }
    classes = base.classes + tuple(_folder_of(label) for label in added) if base.classes else ()
    scientific = (
        base.scientific_names + tuple(parse_label(label).scientific_name for label in added) if base.classes else ()
    )
    return dataclasses.replace(
        base,
        name=options.out.name,
        classes=classes,
        scientific_names=scientific,
        size_bytes=len(content),
        run=None,
        extra={**base.extra, "extension": extension},
    )


def _folder_of(label: str) -> str:
    parsed = parse_label(label)
    return parsed.common_name or parsed.scientific_name or label


def write_run(out: Path, content: bytes, label_lines: Sequence[str], card: ModelCard) -> None:
    """model.tflite (labels embedded), labels.txt and model.json, as a training run writes them; the model last."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / "labels.txt", "\n".join(label_lines) + "\n")
    card.write(out / "model.json")
    write_atomically(out / "model.tflite", content)


def install_if_better(
    options: ExtendOptions, accuracy: float | None, replaced: float | None, checked: int, checked_on: str
) -> tuple[Path | None, str]:
    """Installs the run's model into models/ when asked, or when it names the checked photos at least as well as
    the model it extends; returns where, and one sentence saying why (or why not)."""
    from birdcam.training.export import install

    if options.install is None and accuracy is None:
        checked_on = "each species has one photo and there is no test/ folder"
    decision = install_decision(options.install, accuracy, replaced or 0.0, checked, checked_on, "the model it extends")
    if not decision.install:
        return None, decision.sentence()
    installed = install(options.out, options.out.name)
    return installed, decision.sentence(installed)


NOT_SPECIES = ("LOONEY BIRDS",)
"""Kaggle classes that are no species (cartoon birds): never taught to the starter, a user would see them named."""


def build_starter_extension(
    starter: Path,
    labels_path: Path,
    refs: Path,
    manifest: Path,
    cache: Path | None = None,
    negatives: tuple[Path, ...] = (SHIPPED_NEGATIVES,),
    leave_out: tuple[str, ...] = NOT_SPECIES,
) -> ExtendResult:
    """Fits the starter's shipped extension on a Kaggle-layout folder (shared/birds525-refs) without its classes
    `leave_out` and saves it as `manifest` (.json) and its .rows, with the checksums of the starter and its
    labels; `negatives` as for ExtendOptions."""
    import os
    import shutil
    import tempfile

    from birdcam.models.extension import save_change

    with tempfile.TemporaryDirectory(prefix="birdcam-extension-") as scratch:
        model = Path(scratch) / "starter" / Path(starter).name
        model.parent.mkdir()
        os.symlink(Path(starter).resolve(), model)
        os.symlink(Path(labels_path).resolve(), model.parent / "labels.txt")  # the common names, as in the cache
        data = Path(scratch) / "data"
        shutil.copytree(Path(refs), data, symlinks=True, ignore=lambda _folder, names: set(names) & set(leave_out))
        result = extend(
            ExtendOptions(model, data, Path(scratch) / "run", install=False, cache=cache, negatives=negatives)
        )
    save_change(
        result.change,
        Path(manifest),
        hashlib.sha256(Path(starter).read_bytes()).hexdigest(),
        hashlib.sha256(Path(labels_path).read_bytes()).hexdigest(),
    )
    return result


EXTEND_FLAGS = ("extend", "data", "out", "install", "verbose", "command", "handler")
"""The `birdcam train` flags --extend takes; any other given with it is a mistake."""


def the_apps_model() -> Path:
    """The model the app runs when none is named (downloading the starter if needed); ModelError when none can be
    had."""
    from birdcam.models.store import resolve_model
    from birdcam.util.progress import DownloadProgress

    return resolve_model(progress=DownloadProgress()).path


def run_extend(args) -> int:
    """`birdcam train --extend [MODEL] --data DIR [--out RUN] [--install | --no-install]`; without MODEL, the model
    the app runs (the newest installed one, else the starter, downloaded if needed)."""
    given = [
        name
        for name, value in vars(args).items()
        if name not in EXTEND_FLAGS and value is not None and value is not False
    ]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise DatasetError(f"--extend fits only the classifier layer; drop {flags} (it takes --data, --out, --install)")
    if args.data is None:
        raise DatasetError("--extend needs --data DIR: a folder with one folder of photos per species.")
    model = Path(args.extend).expanduser() if args.extend else the_apps_model()
    out = args.out or Path("runs") / f"extend-{model.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    result = extend(ExtendOptions(model=model, data=Path(args.data), out=Path(out), install=args.install))
    if result.empty:
        print(f"birdcam: note: empty class folders left out: {', '.join(result.empty)}", file=sys.stderr)
    for line in result.skipped[:3]:
        print(f"birdcam: note: skipped {line}", file=sys.stderr)
    if len(result.skipped) > 3:
        print(f"birdcam: note: {len(result.skipped) - 3} more unreadable photos skipped", file=sys.stderr)
    print(f"run: {result.model.parent}")
    print(
        f"added {len(result.added)} species, refined {len(result.refined)} it knew, from {result.photos} photos "
        f"in {result.seconds:.1f} s: {result.model} ({result.card.size_bytes or 0:,} bytes)"
    )
    if result.accuracy is not None:
        was = f", the model it extends {result.replaced_accuracy:.1%}" if result.replaced_accuracy is not None else ""
        print(f"top-1 {result.accuracy:.1%} on {result.checked_photos} photos{was}")
    print(result.install_reason)
    return 0
