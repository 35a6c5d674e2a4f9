"""One visit: a species seen for a while at one source, as stored and shown."""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass

from birdcam.models.labels import Label

UNKNOWN_NAME = "Unknown bird"
"""How a visit of a bird whose species the model does not know is listed."""
UNKNOWN_DESCRIPTION = "Bird \u2014 species not in this model"
"""The longer wording (tooltips, snapshots)."""


@dataclass(frozen=True)
class Visit:
    """One stored visit of one species (or of birds of a species the model does not know)."""

    id: int | None
    """Row id; None while it waits to be written."""
    start: float
    """Unix time the species was first seen."""
    end: float
    """Unix time it was last seen."""
    common_name: str
    """English name; "" when the model gives none (and for an unknown species)."""
    scientific_name: str
    """Latin name; "" when the model gives none (and for an unknown species)."""
    best_score: float
    """Highest confidence during the visit (for an unknown species: that it is a bird)."""
    source: str
    """Where it was seen, e.g. "video: feeder.mp4"."""
    model: str
    """The model that named it."""
    snapshot_path: str | None = None
    """JPEG of the bird cropped beside the whole frame with its boxes and names, at the visit's best moment."""
    count: int = 1
    """The most birds of this species seen at once."""
    crop_path: str | None = None
    """JPEG of the bird alone, nothing drawn (training material)."""
    original_common_name: str | None = None
    """The name the model gave, when a person renamed the visit; None if never renamed."""
    original_scientific_name: str | None = None
    """The model's scientific name, when renamed; None if never renamed."""
    corrected_at: float | None = None
    """Unix time of the last rename or deletion; None if never corrected."""
    deleted: bool = False
    """Deleted by a person: kept in the table, left out of lists, exports and counts."""
    uid: str = ""
    """Stable key given by the recorder, so a visit written twice (after a lock, a merge) is one row."""

    @property
    def known(self) -> bool:
        """The visit has a species name (from the model or a correction)."""
        return bool(self.common_name or self.scientific_name)

    @property
    def display_name(self) -> str:
        return self.common_name or self.scientific_name or UNKNOWN_NAME

    @property
    def species_key(self) -> str:
        """Case-free identity of the species: its scientific name when known, else its common name; "" if unknown."""
        return (self.scientific_name or self.common_name).strip().lower()

    @property
    def renamed(self) -> bool:
        return self.original_common_name is not None

    @property
    def original_display_name(self) -> str:
        """The name before any correction."""
        if not self.renamed:
            return self.display_name
        return self.original_common_name or self.original_scientific_name or UNKNOWN_NAME

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def day(self) -> datetime.date:
        """The local calendar day it started."""
        return datetime.datetime.fromtimestamp(self.start).date()

    def replace(self, **changes) -> Visit:
        return dataclasses.replace(self, **changes)


def names_of(label: Label | None) -> tuple[str, str]:
    """(common, scientific) to store for a label; a label without either is stored under its text."""
    if label is None:
        return "", ""
    if label.common_name or label.scientific_name:
        return label.common_name, label.scientific_name
    return label.text, ""
