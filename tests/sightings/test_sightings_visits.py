"""The visit rules (VisitBuilder), on birds with the starter model's own labels: durations, merging, counts,
unknowns."""

from __future__ import annotations

import numpy as np
import pytest

from birdcam.models.labels import read_labels
from birdcam.scene.scene_pass import Bird
from birdcam.sightings.visits import VisitBuilder, VisitUpdate, Withdrawal

T0 = 1_800_000_000.0
FPS = 10


@pytest.fixture(scope="module")
def species(shared_dir):
    labels = read_labels(shared_dir / "models" / "aiy_birds_v1" / "labels.txt")
    by_name = {label.common_name: label for label in labels}
    return by_name["Mandarin Duck"], by_name["Green-winged Teal"]


def bird(track: int, label, score: float = 0.8, box=(10, 10, 40, 40)) -> Bird:
    return Bird(track, box, label, None if label is None else 0, score, ())


class Film:
    """Plays frames of birds through a builder and keeps the latest state of each visit by uid."""

    def __init__(self, builder: VisitBuilder):
        self.builder = builder
        self.t = T0
        self.visits: dict[str, object] = {}
        self.moments: dict[str, list] = {}
        self.withdrawn: list[str] = []

    def play(self, seconds: float, *birds: Bird, frame=None) -> None:
        for _ in range(round(seconds * FPS)):
            self._take(self.builder.update(birds, self.t, frame))
            self.t += 1 / FPS

    def finish(self) -> list:
        self._take(self.builder.finish())
        return sorted(self.visits.values(), key=lambda v: v.start)

    def _take(self, changes) -> None:
        for change in changes:
            if isinstance(change, VisitUpdate):
                self.visits[change.visit.uid] = change.visit
                if change.moment is not None:
                    self.moments.setdefault(change.visit.uid, []).append(change.moment)
            else:
                assert isinstance(change, Withdrawal)
                self.withdrawn.append(change.uid)
                self.visits.pop(change.uid)


def test_a_visit_needs_a_second_of_one_species_and_merges_within_the_gap(species):
    duck, teal = species
    film = Film(VisitBuilder(merge_gap_s=30))
    film.play(0.8, bird(1, duck))
    film.play(2)
    film.play(0.9, bird(2, teal))
    film.play(1)
    assert film.visits == {}, "glimpses under a second are no visit"
    film.play(1.5, bird(3, duck))
    film.play(10)
    film.play(2, bird(4, duck))
    film.play(31)
    film.play(1.2, bird(5, duck))
    visits = film.finish()
    assert [v.common_name for v in visits] == ["Mandarin Duck", "Mandarin Duck"]
    first, second = visits
    assert first.start == pytest.approx(T0 + 4.7) and first.end == pytest.approx(T0 + 4.7 + 13.4)
    assert second.start == pytest.approx(T0 + 4.7 + 13.5 + 31)
    assert (first.scientific_name, first.count, first.source) == ("Aix galericulata", 1, "")


def test_two_birds_of_one_species_at_once_are_one_visit_of_two_and_another_species_is_its_own(species):
    duck, teal = species
    film = Film(VisitBuilder())
    film.play(1.5, bird(1, duck))
    film.play(2, bird(1, duck), bird(2, duck, 0.9), bird(3, teal))
    film.play(1, bird(2, duck))
    visits = film.finish()
    by_name = {v.common_name: v for v in visits}
    assert sorted(by_name) == ["Green-winged Teal", "Mandarin Duck"] and len(visits) == 2
    assert by_name["Mandarin Duck"].count == 2 and by_name["Green-winged Teal"].count == 1
    assert by_name["Mandarin Duck"].best_score == pytest.approx(0.9)
    assert by_name["Mandarin Duck"].end == pytest.approx(T0 + 4.4)  # the teal's visit did not cut it
    assert by_name["Green-winged Teal"].start == pytest.approx(T0 + 1.5)


def test_birds_of_an_unknown_species_make_a_visit_too(species):
    film = Film(VisitBuilder())
    film.play(2, bird(7, None, 0.6))
    (visit,) = film.finish()
    assert (visit.common_name, visit.scientific_name, visit.known, visit.display_name) == (
        "",
        "",
        False,
        "Unknown bird",
    )


def test_an_unknown_bird_that_gets_its_name_is_one_visit_from_when_it_came(species):
    duck, _ = species
    film = Film(VisitBuilder())
    film.play(1.5, bird(1, None, 0.5))  # long enough to be recorded as an unknown bird meanwhile
    assert [v.known for v in film.visits.values()] == [False]
    film.play(3, bird(1, duck, 0.85))
    visits = film.finish()
    assert len(film.withdrawn) == 1
    (visit,) = visits
    assert visit.common_name == "Mandarin Duck" and visit.start == pytest.approx(T0)


def test_an_unknown_visit_stays_when_only_some_of_its_birds_were_named(species):
    duck, _ = species
    film = Film(VisitBuilder())
    film.play(1.5, bird(1, None), bird(2, None))
    film.play(2, bird(1, duck), bird(2, None))
    visits = film.finish()
    assert sorted((v.display_name, v.count) for v in visits) == [("Mandarin Duck", 1), ("Unknown bird", 2)]
    assert film.withdrawn == []


def test_the_snapshot_moment_is_the_best_score_and_an_ongoing_visit_is_handed_over_once_a_second(species):
    duck, _ = species
    frames = {score: np.full((24, 32, 3), i, np.uint8) for i, score in enumerate((0.5, 0.7, 0.95, 0.6))}
    builder = VisitBuilder(update_interval_s=1.0)
    changes, t = [], T0
    for n in range(60):
        score = (0.5, 0.7, 0.95, 0.6)[n % 4] if n < 40 else 0.6
        changes += [(t, c) for c in builder.update((bird(1, duck, score),), t, frames[score])]
        t += 0.1
    playing = [at for at, _ in changes]
    changes += [(t, c) for c in builder.finish()]
    updates = [c for _, c in changes]
    assert all(isinstance(c, VisitUpdate) for c in updates)
    moments = [c.moment for c in updates if c.moment is not None]
    assert moments[-1].score == pytest.approx(0.95) and moments[-1].frame is frames[0.95]
    assert [m.score for m in moments] == sorted(m.score for m in moments)  # only better moments follow
    assert len(playing) >= 4 and all(b - a >= 1.0 - 1e-9 for a, b in zip(playing, playing[1:]))
    assert updates[-1].final and updates[-1].visit.end == pytest.approx(T0 + 5.9)
