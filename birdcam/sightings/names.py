"""A species name a person typed (renaming a visit), resolved against the names the model knows.

"great gray owl", "Strix nebulosa", "STRIX NEBULOSA" and "Strix nebulosa (Great Gray Owl)" are one
species: each gives both names of the model's label, so exports and summaries never split it in two.
A name the model does not know is kept as typed (common or scientific by its look), flagged, so the
caller can ask before storing it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from birdcam.models.labels import Label, Labels, embedded_labels, parse_label, read_labels, sidecar_labels_path
from birdcam.models.species import name_key

_SUGGESTIONS = 3


@dataclass(frozen=True)
class SpeciesName:
    """What to store for a typed name."""

    common_name: str
    scientific_name: str
    known: bool
    """A species the model (or the names it is checked against) knows; False: stored as typed."""
    suggestions: tuple[str, ...] = ()
    """For an unknown name: known names that look like it, best first."""

    @property
    def display_name(self) -> str:
        return self.common_name or self.scientific_name

    @property
    def full_name(self) -> str:
        """ "Common (Scientific)", or the one name there is."""
        if self.common_name and self.scientific_name:
            return f"{self.common_name} ({self.scientific_name})"
        return self.display_name

    def unknown_warning(self) -> str:
        """One line about a name the model does not know ("" for a known one)."""
        if self.known:
            return ""
        hint = f" (did you mean {' or '.join(self.suggestions)}?)" if self.suggestions else ""
        return f"{self.display_name!r} is not a species the model knows{hint}"


def resolve_species_name(text: str, labels: Iterable[Label]) -> SpeciesName:
    """The names to store for `text`: a label's two names when `text` names one of `labels` (its common name, its
    scientific name, or its label text; case, spacing and hyphens ignored), else `text` as typed."""
    text = " ".join(text.split())
    typed = parse_label(text)
    species = [label for label in labels if not label.is_background and (label.common_name or label.scientific_name)]
    by_key: dict[str, Label] = {}
    for label in species:
        for name in (label.text, label.scientific_name, label.common_name):
            if name:
                by_key.setdefault(name_key(name), label)
    for candidate in (text, typed.scientific_name, typed.common_name):
        found = by_key.get(name_key(candidate)) if candidate else None
        if found is not None:
            return SpeciesName(found.common_name, found.scientific_name, True)
    genera = {name_key(label.scientific_name.split()[0]) for label in species if label.scientific_name}
    common, scientific = typed.common_name, typed.scientific_name
    if scientific and not common and name_key(scientific.split()[0]) not in genera:
        common, scientific = scientific, ""  # "Xyzzy bird" looks like a binomial, but no genus of the model
    if common and not scientific:
        common = common[:1].upper() + common[1:]
    shown = {label.display_name: label for label in species}
    close = difflib.get_close_matches(text.casefold(), [name.casefold() for name in shown], n=_SUGGESTIONS)
    by_fold = {name.casefold(): name for name in shown}
    return SpeciesName(common, scientific, False, tuple(by_fold[name] for name in close))


def recorded_labels(names: Iterable[tuple[str, str]]) -> list[Label]:
    """Labels for (common, scientific) pairs a database holds, for checking names without a model."""
    pairs = {(common, scientific) for common, scientific in names if common and scientific}
    return [Label(f"{scientific} ({common})", common, scientific) for common, scientific in sorted(pairs)]


def model_labels(model_path: str | os.PathLike) -> Labels:
    """A model file's labels (the label file beside it, else the one embedded in it) without loading the model;
    () when it has none."""
    sidecar = sidecar_labels_path(Path(model_path))
    if sidecar is not None:
        return read_labels(sidecar)
    found = embedded_labels(Path(model_path))
    return found[0] if found is not None else ()
