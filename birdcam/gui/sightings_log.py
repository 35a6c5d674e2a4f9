"""Records the window's visits in the sightings database and tells the dock when the list changes."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from birdcam import paths
from birdcam.errors import BirdcamError
from birdcam.gui.overlay import qimage_to_bgr, render_annotated
from birdcam.sightings import SightingsDB, VisitTracker


class SightingsLog(QObject):
    """A `VisitTracker` per (source, model) over one `SightingsDB`; renders a snapshot only when it may be a visit's best."""

    changed = Signal()
    """A visit was stored or updated."""

    def __init__(self, parent: QObject | None = None, db_path: Path | None = None):
        super().__init__(parent)
        self.error = ""
        """Why sightings are not recorded (the database cannot be opened); "" when they are."""
        try:
            self._db: SightingsDB | None = SightingsDB.open(db_path)
        except BirdcamError as error:
            self._db, self.error = None, f"Sightings are not recorded: {error}"
        self._source = ""
        self._model = ""
        self._tracker: VisitTracker | None = None
        self._best: tuple[int, float] | None = None

    def set_source(self, source: str) -> None:
        self._source = source
        self._restart_tracker()

    def set_model(self, model: str) -> None:
        self._model = model
        self._restart_tracker()

    def _restart_tracker(self) -> None:
        self._close_tracker()
        if self._db is None:
            return
        self._tracker = VisitTracker(self._db, source=self._source, model=self._model,
                                     snapshot_dir=paths.data_dir() / "snapshots" / "visits")
        self._best = None

    def _close_tracker(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
            self.changed.emit()

    def update(self, shown, display, content, mirror: bool) -> None:
        """Feeds one smoothed label; `content()` gives the overlay, rendered only for a new best score."""
        if self._tracker is None or shown is None:
            return
        annotated = None
        if shown.is_bird:
            if self._best is None or self._best[0] != shown.index or shown.score > self._best[1]:
                self._best = (shown.index, float(shown.score))
                annotated = qimage_to_bgr(render_annotated(display.frame.image, content(), mirror=mirror))
        else:
            self._best = None
        if self._tracker.update(shown, time.time(), annotated) is not None:
            self.changed.emit()

    def recent(self, limit: int) -> list:
        return self._db.recent(limit) if self._db is not None else []

    def export_csv(self, path: Path) -> int:
        """Writes every visit to `path`; raises BirdcamError when it cannot."""
        if self._db is None:
            raise BirdcamError(self.error)
        return self._db.export_csv(path)

    def close(self) -> None:
        self._close_tracker()
        if self._db is not None:
            self._db.close()
