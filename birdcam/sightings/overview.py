"""What a reader of the sightings shows: the database's state and an overview of the recent visits."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from pathlib import Path

from birdcam.sightings.visit import Visit


class State(enum.Enum):
    """The sightings database's state, as the recorder reports it."""

    STARTING = "starting"
    """The database is being opened."""
    RECORDING = "recording"
    """Visits are written as they happen."""
    DAMAGED = "damaged"
    """The file is damaged and left untouched; visits are written to the side database beside it."""
    LOCKED = "locked"
    """Another program holds the lock: visits wait in memory and are written when it goes."""
    READ_ONLY = "read-only"
    """The file or its folder cannot be written: visits are listed, none are recorded."""
    ERROR = "error"
    """Recording stopped on an I/O error (disk full, snapshot folder gone)."""

    @property
    def recording(self) -> bool:
        """New visits are (or will be) written."""
        return self in (State.STARTING, State.RECORDING, State.DAMAGED, State.LOCKED)

    @property
    def correctable(self) -> bool:
        """Visits can be renamed and deleted now."""
        return self in (State.RECORDING, State.DAMAGED)

    @property
    def trouble(self) -> bool:
        """The user should know: recording is affected."""
        return self in (State.DAMAGED, State.LOCKED, State.READ_ONLY, State.ERROR)


@dataclass(frozen=True)
class Overview:
    """What a reader shows, kept by the recorder's writer thread: take it from any thread."""

    recent: tuple[Visit, ...] = ()
    """The latest visits, newest first; a visit waiting to be written (database locked) has id None."""
    visits_today: int = 0
    """Visits that started today (local time), not deleted."""
    species_today: int = 0
    """Species among them (unknown birds are no species)."""
    state: State = State.STARTING
    """The database's state."""
    message: str = ""
    """What the state means for the user ("" while recording normally)."""
    path: Path | None = None
    """The database being read and written (the side database while the main one is damaged)."""
    waiting: int = 0
    """Visits waiting to be written."""

    @property
    def recording(self) -> bool:
        return self.state.recording


def midnight() -> float:
    """Unix time of today's local midnight: "today" for counts and new-species notices."""
    today = datetime.date.today()
    return datetime.datetime(today.year, today.month, today.day).timestamp()
