"""Typed errors. Their message is one line that says what was wrong and what to do."""


class BirdcamError(Exception):
    """Base of every error birdcam reports to a user (CLI: one line, exit code 2)."""


class ModelError(BirdcamError):
    """A model file is missing, unreadable, not an image classifier, or fails to run."""


class DetectorError(ModelError):
    """A bird detector the user named is missing, unreadable, not a detector, or fails to run."""


class OptionsError(BirdcamError, ValueError):
    """An options dataclass was given a value out of its range; raised by its __post_init__."""


class LabelError(ModelError):
    """A label file is missing, unreadable or does not match the model's outputs."""


class SourceError(BirdcamError):
    """A frame source (camera, video, folder, stream, screen) cannot be opened or read."""


class SpeciesListError(BirdcamError):
    """A species list (allow / deny) is missing, not a text file, names nothing, or names nothing the model knows."""


class DatasetError(BirdcamError):
    """A training or evaluation dataset is missing, empty or malformed."""


class SightingsError(BirdcamError):
    """The sightings database cannot be read or written as asked (damaged, read-only, locked, no such visit)."""


class OutputError(BirdcamError):
    """An output file or folder cannot be written: a file where a folder is wanted, no permission, disk full."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (no trailing full stop), or its type name when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0].strip().rstrip(".") if lines else type(error).__name__
