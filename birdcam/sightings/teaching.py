"""The photos that teach the model a species from the sightings: a renamed visit's crop and the crops of the earlier
visits of that species, as one class folder that `birdcam train --extend --data` reads. No Qt.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from birdcam.errors import SightingsError
from birdcam.sightings.db import SightingsDB
from birdcam.sightings.visit import Visit

MAX_CROPS = 40
"""The newest crops of a species taught at once (the fit is closed form: more photos add little)."""


def species_label(common_name: str, scientific_name: str) -> str:
    """The class folder's name: `Genus species (Common Name)` when both are known, else the one there is."""
    if common_name and scientific_name:
        return f"{scientific_name} ({common_name})"
    return common_name or scientific_name


def teaching_crops(
    db_path: Path, common_name: str, scientific_name: str, visit: Visit | None = None, limit: int = MAX_CROPS
) -> list[Path]:
    """The crop files of the visits of the species (by scientific name, else common name, any case), newest first;
    `visit`'s own crop first (its new name may not be written yet). Reads the database read-only."""
    wanted = {name.strip().lower() for name in (scientific_name, common_name) if name.strip()}
    crops: list[Path] = []
    if visit is not None and visit.crop_path and Path(visit.crop_path).is_file():
        crops.append(Path(visit.crop_path))
    with SightingsDB.open(db_path, read_only=True) as db:
        visits = db.visits()
    for other in sorted(visits, key=lambda v: v.start, reverse=True):
        names = {other.scientific_name.strip().lower(), other.common_name.strip().lower()} - {""}
        crop = Path(other.crop_path) if other.crop_path else None
        if names & wanted and crop is not None and crop.is_file() and crop not in crops:
            crops.append(crop)
    return crops[:limit]


def write_teaching_folder(crops: Sequence[Path], label: str, folder: Path) -> Path:
    """`folder/<label>/<n>.jpg`, a copy of each crop; SightingsError (one line) when there is none or it cannot be
    written."""
    if not crops:
        raise SightingsError(f"no picture of {label} is kept (visits recorded before crops were kept have none)")
    name = " ".join(re.sub(r"[\x00-\x1f/\\:*?\"<>|]+", " ", label).split()).strip(" .") or "bird"
    try:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for n, crop in enumerate(crops, 1):
            shutil.copyfile(crop, folder / name / f"{n}{crop.suffix.lower() or '.jpg'}")
    except OSError as error:
        raise SightingsError(f"cannot write the teaching photos to {folder}: {error.strerror or error}") from None
    return folder
