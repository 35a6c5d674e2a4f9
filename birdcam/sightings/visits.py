"""From the birds of each frame to visits, in memory: the rules, no I/O.

A species (or "a bird of a species the model does not know") is *seen* on a frame when at least one
tracked bird carries it. A run of frames on which it is seen becomes a visit once it lasts
`min_duration_s`; a run that starts less than `merge_gap_s` after the species' last visit ended joins
that visit. Visits of different species are independent (a Teal arriving does not end a Mandarin
Duck's visit). A visit's count is the most birds of its species on one frame.

A bird the scene pass has not named yet is an unknown one. When it gets its name, its species' visit
starts from when it arrived, and an unknown-species visit all of whose birds were later named is
withdrawn: it was the same birds waiting for evidence.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from birdcam.models.boxes import Box
from birdcam.models.labels import Label
from birdcam.scene.scene_pass import Bird
from birdcam.sightings.visit import Visit, names_of

_UNKNOWN = None  # the species key of birds whose species the model does not know
Key = str | None  # a species: its label's text (a str hashes once), or _UNKNOWN


@dataclass(frozen=True)
class BestMoment:
    """The frame on which a visit's species was seen with the highest score: its snapshot is drawn from it."""

    score: float
    """The best bird's score."""
    box: Box
    """The best bird, in frame pixels."""
    frame: np.ndarray
    """The frame, by reference: the caller must not change a frame after handing it over."""
    birds: tuple[Bird, ...]
    """Every bird of that frame (all are drawn on the snapshot)."""


@dataclass(frozen=True)
class VisitUpdate:
    """A visit to store: its state now, and a better moment to draw its snapshot from (None: the snapshot stands)."""

    visit: Visit
    moment: BestMoment | None = None
    final: bool = False
    """The visit is over: nothing more comes for it."""


@dataclass(frozen=True)
class Withdrawal:
    """An unknown-species visit whose birds all got a name later: remove it."""

    uid: str


Change = VisitUpdate | Withdrawal


@dataclass
class _Run:
    """A species seen on consecutive frames."""

    start: float
    last: float
    count: int = 0
    best_score: float = -1.0
    moment: BestMoment | None = None
    tracks: set[int] = field(default_factory=set)
    visit: _OpenVisit | None = None
    """The visit this run belongs to, once it qualified (or joined one)."""


@dataclass
class _OpenVisit:
    """A visit that may still grow: until `merge_gap_s` after its species was last seen."""

    base: Visit
    """Its names, source, model and uid (the rest below changes frame by frame)."""
    start: float
    end: float
    best_score: float
    count: int
    written: tuple | None = None
    """(start, end, best_score, count) last handed to the writer."""
    written_at: float = float("-inf")
    moment: BestMoment | None = None
    """A better moment than the one last handed over, not yet handed over."""
    moment_score: float = -1.0
    """Score of the best moment so far (handed over or not)."""
    tracks: set[int] = field(default_factory=set)
    named_tracks: set[int] = field(default_factory=set)
    """For an unknown-species visit: its birds that were named later."""

    @property
    def state(self) -> tuple:
        return self.start, self.end, self.best_score, self.count

    @property
    def visit(self) -> Visit:
        return self.base.replace(start=self.start, end=self.end, best_score=self.best_score, count=self.count)


class VisitBuilder:
    """Birds per frame in, visit changes out. Not thread-safe: one caller thread."""

    def __init__(
        self,
        *,
        source: str = "",
        model: str = "",
        min_duration_s: float = 1.0,
        merge_gap_s: float = 30.0,
        update_interval_s: float = 1.0,
        new_uid: Callable[[], str] = lambda: uuid.uuid4().hex,
    ):
        self.source = source
        self.model = model
        self.min_duration_s = min_duration_s
        self.merge_gap_s = merge_gap_s
        self.update_interval_s = update_interval_s
        """A visit that goes on is handed over at most this often; at once when it qualifies or its species leaves."""
        self._new_uid = new_uid
        self._runs: dict[Key, _Run] = {}
        self._open: dict[Key, _OpenVisit] = {}
        self._labels: dict[Key, Label | None] = {_UNKNOWN: None}
        self._unknown_since: dict[int, float] = {}  # track -> when it was first seen without a name
        self._last_t = 0.0

    @property
    def open_visits(self) -> int:
        return len(self._open)

    def update(self, birds: Sequence[Bird], t: float, frame: np.ndarray | None = None) -> list[Change]:
        """Takes the birds of one frame seen at unix time `t`; returns what to store."""
        self._last_t = t
        changes: list[Change] = []
        groups: dict[Key, list[Bird]] = {}
        for bird in birds:
            key = bird.label.text if bird.label is not None else _UNKNOWN
            if key not in self._labels:
                self._labels[key] = bird.label
            groups.setdefault(key, []).append(bird)
        unknown_before = self._unknown_since
        self._unknown_since = {b.track: unknown_before.get(b.track, t) for b in groups.get(_UNKNOWN, ())}
        for bird in birds:
            if bird.label is not None and _UNKNOWN in self._open:
                self._open[_UNKNOWN].named_tracks.add(bird.track)
        for key in [k for k in self._runs if k not in groups]:
            changes += self._end_run(key, t)
        for key, group in groups.items():
            changes += self._see(key, group, birds, t, frame, unknown_before)
        for key in list(self._open):
            run = self._runs.get(key)
            end = self._open[key].end
            if t - end > self.merge_gap_s and (
                run is None or (run.visit is None and run.start - end > self.merge_gap_s)
            ):
                changes += self._finish(key)
        return changes

    def finish(self) -> list[Change]:
        """Ends every visit (closing, another source or model); the builder can go on afterwards."""
        changes: list[Change] = []
        for key in list(self._runs):
            changes += self._end_run(key, self._last_t)
        for key in list(self._open):
            changes += self._finish(key)
        self._unknown_since = {}
        return changes

    # -- internals -----------------------------------------------------------------------

    def _see(
        self,
        key: Key,
        group: list[Bird],
        birds: Sequence[Bird],
        t: float,
        frame: np.ndarray | None,
        unknown_before: dict[int, float],
    ) -> list[Change]:
        run = self._runs.get(key)
        if run is None:
            arrived = [unknown_before[b.track] for b in group if key is not _UNKNOWN and b.track in unknown_before]
            run = self._runs[key] = _Run(start=min([t, *arrived]), last=t)
        run.last = t
        tracks = {b.track for b in group}
        run.tracks |= tracks
        run.count = max(run.count, len(tracks))
        best = max(group, key=lambda b: b.score)
        moment = None
        if best.score > run.best_score:
            run.best_score = float(best.score)
            if frame is not None:
                moment = run.moment = BestMoment(float(best.score), best.box, frame, tuple(birds))
        if run.visit is None:
            if run.last - run.start < self.min_duration_s:
                return []
            return self._qualify(key, run, t)
        return self._extend(run.visit, run, t, moment)

    def _qualify(self, key: Key, run: _Run, t: float) -> list[Change]:
        """The run lasted long enough: it joins its species' open visit, or starts a new one."""
        changes: list[Change] = []
        open_visit = self._open.get(key)
        if open_visit is not None and run.start - open_visit.end > self.merge_gap_s:
            changes += self._finish(key)
            open_visit = None
        if open_visit is None:
            common, scientific = names_of(self._labels[key])
            score = max(run.best_score, 0.0)
            base = Visit(
                None, run.start, run.last, common, scientific, score, self.source, self.model, uid=self._new_uid()
            )
            open_visit = self._open[key] = _OpenVisit(base, run.start, run.last, score, max(run.count, 1))
        run.visit = open_visit
        self._absorb(open_visit, run, run.moment)
        return changes + self._hand_over(open_visit, t)

    def _extend(self, open_visit: _OpenVisit, run: _Run, t: float, moment: BestMoment | None) -> list[Change]:
        self._absorb(open_visit, run, moment)
        if t - open_visit.written_at >= self.update_interval_s:
            return self._hand_over(open_visit, t)
        return []

    @staticmethod
    def _absorb(open_visit: _OpenVisit, run: _Run, moment: BestMoment | None) -> None:
        open_visit.start = min(open_visit.start, run.start)
        open_visit.end = max(open_visit.end, run.last)
        open_visit.best_score = max(open_visit.best_score, run.best_score)
        open_visit.count = max(open_visit.count, run.count)
        open_visit.tracks |= run.tracks
        if moment is not None and moment.score > open_visit.moment_score:
            open_visit.moment, open_visit.moment_score = moment, moment.score

    def _hand_over(self, open_visit: _OpenVisit, t: float, *, final: bool = False) -> list[Change]:
        if open_visit.state == open_visit.written and open_visit.moment is None and not final:
            return []
        change = VisitUpdate(open_visit.visit, open_visit.moment, final)
        open_visit.written, open_visit.written_at, open_visit.moment = open_visit.state, t, None
        return [change]

    def _end_run(self, key: Key, t: float) -> list[Change]:
        """The species is no longer seen: its visit's end is final until it comes back, so it is handed over now."""
        run = self._runs.pop(key)
        if run.visit is None:
            return []
        open_visit = run.visit
        if key is _UNKNOWN and open_visit.tracks <= open_visit.named_tracks:
            del self._open[key]
            return [Withdrawal(open_visit.base.uid)]
        return self._hand_over(open_visit, t)

    def _finish(self, key: Key) -> list[Change]:
        return self._hand_over(self._open.pop(key), self._last_t, final=True)
