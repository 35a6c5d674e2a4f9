"""Whether a model `birdcam train` made becomes the app's default model: only when it is at least as good as the one
it replaces on the same photos, or when the user asks (--install); never with --no-install.

The model replaced is the one the app runs by default now (the newest model in models/, else the
starter). Both are scored through the app's engine on the same test photos: a photo counts as named
when the model's top class is its species, matched by label, common name or scientific name, so a
model of other species than the run's is compared fairly (it names none of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from birdcam.errors import ModelError, SourceError


@dataclass(frozen=True)
class InstallDecision:
    """Whether to install, and why."""

    install: bool
    why: str
    """The reason, with the figures compared: "it names 92.0% of 8 photos (...), the model it extends 0.0%"."""

    def sentence(self, installed: Path | None = None) -> str:
        """ "installed: PATH (why)" or "not installed: why"."""
        if self.install:
            return f"installed{f': {installed}' if installed is not None else ''} ({self.why})"
        return f"not installed: {self.why}"


def install_decision(
    asked: bool | None,
    accuracy: float | None,
    replaced_accuracy: float | None,
    checked: int,
    checked_on: str,
    replaced_name: str,
) -> InstallDecision:
    """The rule: `asked` True installs, False never does; None installs when `accuracy` (top-1 on `checked` photos,
    `checked_on` says which) is at least `replaced_accuracy` of the model replaced (None: there is none)."""
    if asked is False:
        return InstallDecision(False, "--no-install")
    if asked:
        return InstallDecision(True, "as asked with --install")
    if accuracy is None:
        return InstallDecision(False, f"no photo to check it on ({checked_on}); pass --install to install it anyway")
    if replaced_accuracy is None:
        return InstallDecision(True, f"it names {accuracy:.1%} of {checked} photos ({checked_on})")
    figures = f"it names {accuracy:.1%} of {checked} photos ({checked_on}), {replaced_name} {replaced_accuracy:.1%}"
    if accuracy < replaced_accuracy:
        return InstallDecision(False, f"{figures}; pass --install to install it anyway")
    return InstallDecision(True, figures)


def default_model() -> Path | None:
    """The model the app runs when none is named (no download; None when there is none to be had)."""
    from birdcam.models.store import resolve_model

    try:
        return resolve_model(download=False).path
    except ModelError:
        return None


def engine_top1(
    model_path: Path,
    photos: Sequence[Path],
    targets: Sequence[int],
    class_names: Sequence[str],
    scientific_names: Sequence[str],
    *,
    num_threads: int = 2,
) -> float | None:
    """Top-1 of a model on photos of the given classes through the app's engine (a class the model does not name is
    a miss); unreadable photos are left out. None when no photo could be read or the model does not load."""
    from birdcam.models.classifier import Classifier
    from birdcam.models.image import read_image
    from birdcam.training.evaluate import match_classes

    try:
        classifier = Classifier.from_path(Path(model_path), num_threads=num_threads, top_k=1)
    except ModelError:
        return None
    right, seen = 0, 0
    with classifier:
        matches = match_classes(class_names, scientific_names, classifier.labels)
        for path, target in zip(photos, targets):
            try:
                image = read_image(path)
            except SourceError:
                continue
            seen += 1
            wanted = matches.get(class_names[target])
            right += wanted is not None and classifier.classify(image).top.index == wanted
    return right / seen if seen else None


def trained_model_decision(
    model_path: Path,
    photos: Sequence[Path],
    targets: Sequence[int],
    class_names: Sequence[str],
    scientific_names: Sequence[str],
    asked: bool | None,
) -> InstallDecision:
    """The rule for a model `birdcam train` exported, checked on its test photos against the app's default model."""
    if asked is not None:
        return install_decision(asked, None, None, 0, "", "")
    replaced = default_model()
    if replaced is None:
        return InstallDecision(True, "the app has no model of its own that it would replace")
    checked_on = "the run's test split"
    accuracy = engine_top1(model_path, photos, targets, class_names, scientific_names)
    replaced_accuracy = engine_top1(replaced, photos, targets, class_names, scientific_names)
    return install_decision(
        None, accuracy, replaced_accuracy, len(photos), checked_on, f"the app's model now ({replaced.name})"
    )
