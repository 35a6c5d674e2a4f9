"""New-species notices: the first visit of a species ever, or today, unless the species is muted."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from birdcam.sightings.db import SightingsDB
from birdcam.sightings.overview import midnight
from birdcam.sightings.visit import Visit

EVER = "ever"
"""The species was never recorded before this visit."""
TODAY = "today"
"""The species was recorded before, but not today."""


class NewSpeciesNotifier:
    """Calls `on_new_species(kind, visit)` (kind EVER or TODAY) for the first visit of a species; thread-safe
    muting (the set of names is replaced, never changed in place)."""

    def __init__(self, on_new_species: Callable[[str, Visit], None] | None, muted: Iterable[str] = ()):
        self._on_new_species = on_new_species
        self._muted = muted_names(muted)

    def set_muted(self, names: Iterable[str]) -> None:
        """Species (common or scientific names, any case) whose first visit gives no notice."""
        self._muted = muted_names(names)

    def check(self, db: SightingsDB, visit: Visit) -> None:
        """Tells about `visit` (just written to `db`) if it is its species' first, ever or today."""
        if self._on_new_species is None or not visit.known or self.is_muted(visit):
            return
        try:
            if not db.seen_since(visit.species_key, None, excluding=visit.uid):
                self._on_new_species(EVER, visit)
            elif not db.seen_since(visit.species_key, midnight(), excluding=visit.uid):
                self._on_new_species(TODAY, visit)
        except sqlite3.Error:
            pass  # a notice is a nicety; the visit is written

    def is_muted(self, visit: Visit) -> bool:
        names = {visit.common_name.lower(), visit.scientific_name.lower()} - {""}
        return bool(names & self._muted)


def muted_names(names: Iterable[str]) -> frozenset[str]:
    """Names as compared: spaces collapsed, lower case."""
    return frozenset(" ".join(name.split()).lower() for name in names if name.strip())
