"""Species lists (allow / deny): reading the files and matching their names to a model's classes.

A list is a text file with one species a line, scientific or common name, any case; `#` starts a
comment, blank lines are ignored. The engine masks the classes a list rules out (see
`Classifier.set_species_filter`); this module only reads and matches, so it is shared by the CLI,
the window and the process that runs the classifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from birdcam.errors import SpeciesListError
from birdcam.models.labels import Label

# How many unknown names the warning line spells out before "and N more".
WARNING_NAMES = 3
_APOSTROPHES = re.compile(r"['\u2019`]")
# How much of a file tells whether it is text.
_SNIFF_BYTES = 8192
# Windows Notepad's "Unicode": UTF-16 with a byte-order mark.
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A list given by mistake: what its first bytes say it is.
_SIGNATURES = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a zip file"),
)


@dataclass(frozen=True)
class SpeciesLists:
    """The names of an allow list and a deny list, as the engine takes them."""

    allow: tuple[str, ...] | None = None
    """The only species to report; None: every species the model knows."""
    deny: tuple[str, ...] = ()
    """Species never to report (wins over the allow list)."""


@dataclass(frozen=True)
class SpeciesFilterReport:
    """What a species list did to a classifier's classes."""

    unknown: tuple[str, ...] = ()
    """Listed names that match no class of the model, as written, allow list first."""
    listed: int = 0
    """How many different names the lists hold."""
    masked: int = 0
    """How many classes are masked: never reported, their probability set to 0."""

    @property
    def warning(self) -> str | None:
        """One line naming the first few names the model does not know, or None when it knows them all."""
        if not self.unknown:
            return None
        shown = ", ".join(self.unknown[:WARNING_NAMES])
        more = len(self.unknown) - WARNING_NAMES
        names = f"{shown} and {more} more" if more > 0 else shown
        return (
            f"the model does not know {len(self.unknown)} of the {self.listed} species listed ({names}); "
            "they are ignored"
        )


def name_key(text: str) -> str:
    """How species names are compared: case, spacing, hyphens and apostrophes ignored ("Cooper's Hawk" =
    "COOPERS HAWK")."""
    return " ".join(_APOSTROPHES.sub("", text).replace("-", " ").split()).casefold()


def parse_species_list(content: str) -> tuple[str, ...]:
    """The names in a list's text: one a line, `#` comments and blank lines dropped, each name once."""
    return _distinct(line.split("#", 1)[0] for line in content.splitlines())


def _distinct(names: Iterable[str]) -> tuple[str, ...]:
    """Names with their spacing tidied, blanks dropped, each once (the first spelling kept)."""
    found: dict[str, str] = {}
    for name in names:
        name = " ".join(name.split())
        if name:
            found.setdefault(name_key(name), name)
    return tuple(found.values())


def read_species_list(path: Path) -> tuple[str, ...]:
    """Reads a species list file: UTF-8 (a BOM is fine) or UTF-16 with a BOM. Anything else is one SpeciesListError
    line."""
    path = Path(path).expanduser()
    what_to_do = "give a text file with one species name a line"
    if not path.exists():
        raise SpeciesListError(f"species list not found: {path}; {what_to_do}.")
    if path.is_dir():
        raise SpeciesListError(f"{path} is a folder, not a species list; {what_to_do}.")
    try:
        with path.open("rb") as handle:
            raw = handle.read(_SNIFF_BYTES)
            kind = None if raw.startswith(_UTF16_BOMS) else _binary_kind(raw)
            if kind:  # found before reading a large file given by mistake
                raise SpeciesListError(f"species list {path} is {kind}, not text; {what_to_do}.")
            raw += handle.read()
    except OSError as error:
        raise SpeciesListError(f"cannot read species list {path}: {error.strerror}.") from None
    try:
        content = raw.decode("utf-16" if raw.startswith(_UTF16_BOMS) else "utf-8-sig")
    except UnicodeDecodeError:
        raise SpeciesListError(f"species list {path} is not UTF-8 text; save it as UTF-8 ({what_to_do}).") from None
    names = parse_species_list(content)
    if not names:
        raise SpeciesListError(f"species list {path} names no species (it is empty or all comments); {what_to_do}.")
    return names


def read_species_lists(allow: Path | None = None, deny: Path | None = None) -> SpeciesLists:
    """The two files (either may be None) as the engine takes them:
    `Classifier.set_species_filter(lists.allow, lists.deny)`."""
    return SpeciesLists(
        allow=read_species_list(allow) if allow is not None else None,
        deny=read_species_list(deny) if deny is not None else (),
    )


def species_mask(
    labels: Sequence[Label], background_index: int | None, allow: Iterable[str] | None, deny: Iterable[str] = ()
) -> tuple[np.ndarray | None, SpeciesFilterReport]:
    """Which classes stay (a bool vector; None when nothing is masked) and the report.

    A name matches a label by its scientific name, its common name or its whole text (see
    `name_key`); a genus matches each of its species. The background class always stays. An allow
    list that matches no class at all is an error: it would make every frame "no bird".
    """
    allow = None if allow is None else _distinct(allow)
    deny = _distinct(deny)
    listed = (*(allow or ()), *deny)
    classes = _classes_by_name(labels)
    keep = np.ones(len(labels), bool)
    if allow is not None:
        allowed = [i for name in allow for i in classes.get(name_key(name), ())]
        if not allowed:
            shown = ", ".join(allow[:WARNING_NAMES])
            raise SpeciesListError(
                f"none of the {len(allow)} species in the allow list "
                f"({shown}{', ...' if len(allow) > WARNING_NAMES else ''}) "
                "is one the model knows; check that the list is meant for this model."
            )
        keep[:] = False
        keep[allowed] = True
    for name in deny:
        keep[list(classes.get(name_key(name), ()))] = False
    if background_index is not None:
        keep[background_index] = True
    masked = int((~keep).sum())
    report = SpeciesFilterReport(
        unknown=_distinct(name for name in listed if name_key(name) not in classes),
        listed=len(_distinct(listed)),
        masked=masked,
    )
    return (keep if masked else None), report


def _classes_by_name(labels: Sequence[Label]) -> dict[str, tuple[int, ...]]:
    """{name key: class indices} over every label's scientific name, common name and text, then genus (no background).

    A genus alone ("Geococcyx", as the Kaggle set's birds.csv names its roadrunners) stands for each
    of its species, unless it is also some class's own name.
    """
    classes: dict[str, list[int]] = {}
    genera: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        if label.is_background:
            continue
        for name in {label.scientific_name, label.common_name, label.text} - {""}:
            indices = classes.setdefault(name_key(name), [])
            if index not in indices:
                indices.append(index)
        if " " in label.scientific_name:
            genera.setdefault(name_key(label.scientific_name.split()[0]), []).append(index)
    for genus, indices in genera.items():
        classes.setdefault(genus, indices)
    return {key: tuple(indices) for key, indices in classes.items()}


def _binary_kind(raw: bytes) -> str | None:
    """ "a JPEG image", "a TFLite model", ... or "a binary file" when the bytes are not text; None for text."""
    if raw[4:8] == b"TFL3":
        return "a TFLite model"
    for signature, kind in _SIGNATURES:
        if raw.startswith(signature):
            return kind
    return "a binary file" if b"\x00" in raw[:_SNIFF_BYTES] else None
