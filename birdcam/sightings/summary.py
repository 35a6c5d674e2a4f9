"""The daily summary: per day, which species came how often, and which came for the first time ever or this year."""

from __future__ import annotations

import collections
import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from birdcam.sightings.visit import UNKNOWN_NAME, Visit
from birdcam.util.text import counted


@dataclass(frozen=True)
class SpeciesDay:
    """One species on one day."""

    name: str
    """The name shown (corrected names count)."""
    scientific_name: str
    visits: int
    most_at_once: int
    """The most birds of it seen at once that day."""
    first_ever: bool
    """Its first visit ever was this day."""
    first_this_year: bool
    """Its first visit this calendar year was this day (and it had come in an earlier year)."""


@dataclass(frozen=True)
class DaySummary:
    day: datetime.date
    species: tuple[SpeciesDay, ...]
    """Most visits first."""

    @property
    def visits(self) -> int:
        return sum(s.visits for s in self.species)


@dataclass(frozen=True)
class Summary:
    """Every day of the period, oldest first, including days without visits."""

    days: tuple[DaySummary, ...]
    species: tuple[str, ...]
    """Every species name of the period, most visits first (the chart's rows)."""

    def visits(self, name: str, day: datetime.date) -> int:
        for summary in self.days:
            if summary.day == day:
                return next((s.visits for s in summary.species if s.name == name), 0)
        return 0

    @property
    def total_visits(self) -> int:
        return sum(day.visits for day in self.days)


def summarize(visits: Iterable[Visit], *, days: int = 7, today: datetime.date | None = None) -> Summary:
    """The last `days` days up to `today` from every visit (all of them are needed to know what is new)."""
    today = today or datetime.date.today()
    first_day = today - datetime.timedelta(days=days - 1)
    first_ever: dict[str, datetime.date] = {}
    first_in_year: dict[tuple[str, int], datetime.date] = {}
    per_day: dict[datetime.date, dict[str, list[Visit]]] = collections.defaultdict(dict)
    for visit in sorted((v for v in visits if not v.deleted), key=lambda v: v.start):
        key, day = visit.species_key, visit.day
        if key:
            first_ever.setdefault(key, day)
            first_in_year.setdefault((key, day.year), day)
        if first_day <= day <= today:
            per_day[day].setdefault(key, []).append(visit)
    totals: collections.Counter[str] = collections.Counter()
    summaries = []
    for offset in range(days):
        day = first_day + datetime.timedelta(days=offset)
        entries = []
        for key, group in per_day.get(day, {}).items():
            latest = group[-1]
            name = latest.display_name if key else UNKNOWN_NAME
            ever = bool(key) and first_ever[key] == day
            entries.append(
                SpeciesDay(
                    name,
                    latest.scientific_name,
                    len(group),
                    max(v.count for v in group),
                    ever,
                    bool(key) and not ever and first_in_year[(key, day.year)] == day,
                )
            )
            totals[name] += len(group)
        entries.sort(key=lambda s: (-s.visits, s.name.lower()))
        summaries.append(DaySummary(day, tuple(entries)))
    species = tuple(sorted(totals, key=lambda name: (-totals[name], name.lower())))
    return Summary(tuple(summaries), species)


def summary_lines(summary: Summary) -> list[str]:
    """The summary as text, newest day first (CLI `birdcam sightings --summary`)."""
    lines = []
    width = max((len(s.name) for day in summary.days for s in day.species), default=10)
    for day in reversed(summary.days):
        count = len(day.species)
        lines.append(
            f"{day.day.isoformat()} {day.day.strftime('%a')}  "
            + (f"{count} species, {counted(day.visits, 'visit')}" if count else "no visits")
        )
        for species in day.species:
            mark = "  first ever" if species.first_ever else "  first this year" if species.first_this_year else ""
            at_once = f"  up to {species.most_at_once} at once" if species.most_at_once > 1 else ""
            lines.append(
                f"  {species.name:<{width}}  {species.visits:3d} visit{'s' if species.visits != 1 else ' '}"
                f"{at_once}{mark}"
            )
    return lines
