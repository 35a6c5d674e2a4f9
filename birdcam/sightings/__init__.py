"""Sightings: the birds of every classified frame turned into visits, stored in SQLite as they happen, corrected,
summarized and exported (CSV, eBird, a training dataset). Qt-free.

- `visit`      Visit, the row; names of unknown birds
- `visits`     VisitBuilder: the visit rules, in memory
- `snapshots`  the snapshot (crop + whole frame with boxes) and the clean crop, drawn with OpenCV
- `db`         SightingsDB: open (damage / read-only / lock aware), migrate, upsert, correct, query
- `overview`   State (the database's state), Overview (what a reader shows)
- `keeper`     DatabaseKeeper: the writer thread's hold on the file; damaged, locked, read-only, pending visits
- `notifier`   NewSpeciesNotifier: the first visit of a species ever or today
- `recorder`   SightingsRecorder: update() on the caller's thread, a writer thread for everything else
- `exports`    CSV, eBird record format, dataset for `birdcam train`
- `summary`    per-day species counts with first sightings
"""

from birdcam.sightings.db import (
    DamagedDatabase,
    LockedDatabase,
    ReadOnlyDatabase,
    SightingsDB,
    UnknownVisit,
    check_recordable,
    default_path,
    pending_path,
    probe,
    reading_path,
    side_path,
)
from birdcam.sightings.overview import Overview, State
from birdcam.sightings.recorder import SightingsRecorder
from birdcam.sightings.visit import UNKNOWN_DESCRIPTION, UNKNOWN_NAME, Visit

__all__ = [
    "UNKNOWN_DESCRIPTION",
    "UNKNOWN_NAME",
    "DamagedDatabase",
    "LockedDatabase",
    "Overview",
    "ReadOnlyDatabase",
    "SightingsDB",
    "SightingsRecorder",
    "State",
    "UnknownVisit",
    "Visit",
    "check_recordable",
    "default_path",
    "pending_path",
    "probe",
    "reading_path",
    "side_path",
]
