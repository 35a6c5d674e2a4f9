"""The window's sightings: a thin Qt adapter over SightingsRecorder, whose writer thread owns SQLite and the snapshots.

Nothing here touches the database on the GUI thread: `update()` queues, readers take `overview`
(kept by the writer thread), and summaries and exports run on the writer thread and come back as
signals. The recorder's callbacks run on its thread; Qt queues the signals to the GUI thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from birdcam.scene.scene_pass import SceneResult
from birdcam.sightings import Overview, SightingsRecorder, State, Visit, exports
from birdcam.sightings.summary import summarize
from birdcam.util.text import counted


class SightingsLog(QObject):
    """Records the visits of the window's scene results; tells the dock what changed."""

    changed = Signal()
    """The overview changed (a visit stored or updated, a correction, the database's state)."""
    status = Signal(object, str)
    """(State, message): the database's state changed (RECORDING with "" when all is well)."""
    notice = Signal(str, bool)
    """(message, is_error): a one-off message (a correction done, an export written, why one failed)."""
    new_species = Signal(str, str)
    """(kind, name): the first visit of a species "ever" or "today" (muted species excepted)."""
    summary_ready = Signal(object)
    """A birdcam.sightings.summary.Summary asked for with request_summary()."""

    def __init__(
        self,
        parent: QObject | None = None,
        db_path: Path | None = None,
        *,
        source: str = "",
        model: str = "",
        snapshot_dir: Path | None = None,
        muted: Iterable[str] = (),
    ):
        super().__init__(parent)
        self._closed = False
        self._recorder = SightingsRecorder(
            db_path,
            source=source,
            model=model,
            snapshot_dir=snapshot_dir,
            muted=muted,
            on_status=self._on_status,
            on_notice=self._on_notice,
            on_changed=self._on_changed,
            on_new_species=self._on_new_species,
        )

    @property
    def overview(self) -> Overview:
        """Recent visits, today's counts and the database's state (no SQLite: kept by the writer thread)."""
        return self._recorder.overview

    @property
    def recorder(self) -> SightingsRecorder:
        return self._recorder

    def update(self, scene_result: SceneResult, frame_bgr: np.ndarray | None, t_wall: float | None = None) -> None:
        """Feeds one classified frame (its birds, and the frame for snapshots); `t_wall`: unix time, default now."""
        self._recorder.update(scene_result.birds, time.time() if t_wall is None else t_wall, frame_bgr)

    def set_source(self, source: str) -> None:
        self._recorder.set_source(source)

    def set_model(self, model: str) -> None:
        self._recorder.set_model(model)

    def set_muted(self, names: Iterable[str]) -> None:
        self._recorder.set_muted(names)

    def rename(self, visit_id: int, common_name: str, scientific_name: str) -> None:
        self._recorder.rename(visit_id, common_name, scientific_name)

    def delete(self, visit_id: int) -> None:
        self._recorder.delete(visit_id)

    def request_summary(self, days: int) -> None:
        """Computes the summary of the last `days` days on the writer thread; it arrives as summary_ready."""

        def done(summary, error: str) -> None:
            if error:
                self._on_notice(f"No summary: {error}", error=True)
            elif not self._closed:
                self.summary_ready.emit(summary)

        self._recorder.query(lambda db: summarize(db.visits(), days=days), done)

    def export(self, path: Path, fmt: str = "birdcam", *, location: str = "birdcam") -> None:
        """Writes every visit to `path` as CSV ("birdcam") or eBird record format ("ebird"); the outcome is a notice."""
        path = Path(path)

        def write(db) -> int:
            visits: list[Visit] = db.visits()
            if fmt == "ebird":
                return exports.write_ebird(visits, path, location=location)
            return exports.write_csv(visits, path)

        def done(count, error: str) -> None:
            what = (
                f"{counted(count, 'species-day')} in eBird record format" if fmt == "ebird" else counted(count, "visit")
            )
            self._on_notice(error or f"Exported {what} to {path}", error=bool(error))

        self._recorder.query(write, done)

    def stop(self, timeout: float = 1.5) -> None:
        """Starts closing without waiting (see SightingsRecorder.stop); close() finishes it."""
        self._recorder.stop(timeout)

    def close(self, timeout: float = 1.5) -> None:
        """Ends the visits and writes what waits (bounded); signals stop afterwards."""
        self._recorder.close(timeout)
        self._closed = True

    # -- the recorder's callbacks, on its writer thread -----------------------------------

    def _on_status(self, state: State, message: str) -> None:
        if not self._closed:
            self.status.emit(state, message)

    def _on_notice(self, message: str, error: bool = False) -> None:
        if not self._closed:
            self.notice.emit(message, error)

    def _on_changed(self) -> None:
        if not self._closed:
            self.changed.emit()

    def _on_new_species(self, kind: str, visit: Visit) -> None:
        if not self._closed:
            self.new_species.emit(kind, visit.display_name)
