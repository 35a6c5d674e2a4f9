"""Class labels: a classifier's species labels (`Scientific name (Common name)` lines) and a detector's class
names, and finding the label file that belongs to a model."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from birdcam.errors import LabelError

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""The 80 COCO classes in the order COCO-trained YOLO-family models output them."""
_PLACEHOLDER = "???"
"""The first line of TF's detection label maps: the background, which the outputs do not count."""
_NUMBERED_LINE = re.compile(r"^(\d+)[:\s]\s*(.+)$")
# "None" is how TF Hub's AIY birds model names its background output in the embedded label file.
BACKGROUND_NAMES = frozenset({"background", "__background__", "none"})
_BYTE_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_WITH_COMMON = re.compile(r"^(?P<scientific>.+?)\s*\((?P<common>[^()]*)\)\s*$")
# "Aix galericulata", "Larus glaucescens × occidentalis", "Buteo" : a genus, then lower-case words.
_BINOMIAL = re.compile(r"^[A-Z][a-z-]+( [a-z×x.-]+){0,3}$")


@dataclass(frozen=True)
class Label:
    """One output class of a classifier."""

    text: str
    """The label as written in the label file."""
    common_name: str
    """English name ("Mandarin Duck"), or "" when the label file gives only a scientific name."""
    scientific_name: str
    """Latin name ("Aix galericulata"), or "" when unknown."""

    @property
    def is_background(self) -> bool:
        """True for the non-bird class."""
        return self.text.strip().lower() in BACKGROUND_NAMES

    @property
    def display_name(self) -> str:
        """The name to show a person: the common name if known, else the scientific one."""
        return self.common_name or self.scientific_name or self.text


Labels = tuple[Label, ...]


def parse_label(text: str) -> Label:
    """Splits `Scientific name (Common name)`; a lone binomial is scientific, anything else common."""
    text = text.strip()
    if text.lower() in BACKGROUND_NAMES:
        return Label(text, "", "")
    match = _WITH_COMMON.match(text)
    if match:
        return Label(text, match["common"].strip(), match["scientific"].strip())
    if _BINOMIAL.match(text):
        return Label(text, "", text)
    return Label(text, text, "")


def parse_label_lines(content: str) -> Labels:
    """Parses a label file's text: one label per line, blank lines ignored, `id label` / `id: label` accepted."""
    labels = []
    # Coral's label file writes the multiplication sign of hybrids as a literal "\xd7".
    content = _BYTE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), content)
    for line in content.splitlines():
        line = line.strip()
        if not line:
            continue
        numbered = re.match(r"^\d+[:\s]\s*(.+)$", line)
        labels.append(parse_label(numbered.group(1) if numbered else line))
    return tuple(labels)


def read_labels(path: Path) -> Labels:
    """Reads a label file (UTF-8; Latin-1 accepted for old files)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise LabelError(f"label file not found: {path}. Pass an existing file with --labels.") from None
    except OSError as error:
        raise LabelError(f"cannot read label file {path}: {error.strerror}.") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")
    labels = parse_label_lines(content)
    if not labels:
        raise LabelError(f"label file {path} is empty. Give a file with one label per line.")
    return labels


def sidecar_labels_path(model_path: Path) -> Path | None:
    """`<model>.labels.txt`, else `labels.txt` beside the model, if either exists."""
    model_path = Path(model_path)
    for candidate in (model_path.with_suffix(".labels.txt"), model_path.parent / "labels.txt"):
        if candidate.is_file():
            return candidate
    return None


def embedded_labels(model_path: Path) -> tuple[Labels, str] | None:
    """Labels from the zip of associated files that TF Hub / TFLite metadata append to a model.

    Prefers English label files (`*-en.txt`, `labels.txt`); returns the labels and the member name.
    Only the zip's directory at the end of the file is read, so large models cost nothing here.
    """
    try:
        with open(model_path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            return _labels_from_archive(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _labels_from_archive(archive: zipfile.ZipFile) -> tuple[Labels, str] | None:
    names = [name for name in archive.namelist() if name.lower().endswith(".txt")]
    if not names:
        return None

    def preference(name: str) -> tuple[int, str]:
        lower = name.lower()
        english = "-en" in lower or "_en" in lower or lower.endswith("en.txt")
        return (0 if english else 1 if "label" in lower else 2, name)

    best = min(names, key=preference)
    try:
        content = archive.read(best).decode("utf-8-sig", errors="replace")
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError):
        return None
    labels = parse_label_lines(content)
    return (labels, best) if labels else None


def default_labels(count: int) -> Labels:
    """`class 0`, `class 1`, ... for a model that comes with no labels."""
    return tuple(Label(f"class {i}", f"class {i}", "") for i in range(count))


def find_labels(model_path: Path, explicit: Path | None, num_classes: int) -> tuple[Labels, str]:
    """A classifier's labels and where they came from: the explicit file > `<model>.labels.txt` / `labels.txt`
    beside it > the zip embedded in the model > "class 0", "class 1", ... for its `num_classes` outputs."""
    if explicit is not None:
        return read_labels(Path(explicit)), str(explicit)
    sidecar = sidecar_labels_path(model_path)
    if sidecar is not None:
        return read_labels(sidecar), str(sidecar)
    found = embedded_labels(model_path)
    if found is not None:
        labels, member = found
        return labels, f"{member} embedded in {Path(model_path).name}"
    return default_labels(num_classes), "none found (named class 0, class 1, ...)"


# -- a detector's class names ------------------------------------------------------------------


def read_class_names(path: Path) -> tuple[str, ...]:
    """One class name a line. Numbered lines (`15  bird`, Coral's coco_labels.txt) put each name at its
    number, gaps named "class N"; a leading `???` (the background of TF's label maps) is dropped."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise LabelError(f"detector label file not found: {path}. Give an existing file.") from None
    except OSError as error:
        raise LabelError(f"cannot read detector label file {path}: {error.strerror}.") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    numbered = [match for match in map(_NUMBERED_LINE.match, lines) if match is not None]
    if lines and len(numbered) == len(lines):
        by_number = {int(m.group(1)): m.group(2).strip() for m in numbered}
        names = tuple(by_number.get(i, f"class {i}") for i in range(max(by_number) + 1))
    else:
        names = _without_placeholder(tuple(lines))
    if not names:
        raise LabelError(f"detector label file {path} is empty. Give a file with one class name a line.")
    return names


def _without_placeholder(names: tuple[str, ...]) -> tuple[str, ...]:
    return names[1:] if names and names[0] == _PLACEHOLDER else names


def find_class_names(model_path: Path, explicit: Path | None, num_classes: int | None) -> tuple[tuple[str, ...], str]:
    """The detector's class names and where they came from.

    Explicit file > `<model>.labels.txt`, `coco_classes.txt`, `labels.txt` beside the model (a YOLOX
    model skips one whose count does not match: that labels.txt may be a classifier's) > the zip
    embedded in the model > COCO's 80 names for an 80-class model.
    """
    if explicit is not None:
        names = read_class_names(Path(explicit))
        if num_classes is not None and len(names) != num_classes:
            raise LabelError(
                f"the detector labels {explicit} list {len(names)} classes but {model_path.name} has "
                f"{num_classes}; give the label file that belongs to this detector."
            )
        return names, str(explicit)
    beside = (
        model_path.with_suffix(".labels.txt"),
        model_path.parent / "coco_classes.txt",
        model_path.parent / "labels.txt",
    )
    for candidate in beside:
        if candidate.is_file():
            names = read_class_names(candidate)
            if num_classes is None or len(names) == num_classes:
                return names, str(candidate)
    found = embedded_labels(model_path)
    if found is not None:
        labels, member = found
        names = _without_placeholder(tuple(label.text for label in labels))
        if num_classes is None or len(names) == num_classes:
            return names, f"{member} embedded in {model_path.name}"
    if num_classes == len(COCO_CLASSES):
        return COCO_CLASSES, "COCO's 80 classes (the model has 80 and no label file)"
    if num_classes is None:
        raise LabelError(
            f"detector {model_path.name} comes with no class names; save them, one a line, as "
            f"{model_path.with_suffix('.labels.txt')}."
        )
    return tuple(f"class {i}" for i in range(num_classes)), "none found (named class 0, class 1, ...)"
