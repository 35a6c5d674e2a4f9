"""Typed errors. Their message is one line that says what was wrong and what to do."""


class BirdcamError(Exception):
    """Base of every error birdcam reports to a user (CLI: one line, exit code 2)."""


class ModelError(BirdcamError):
    """A model file is missing, unreadable, not an image classifier, or fails to run."""


class LabelError(ModelError):
    """A label file is missing, unreadable or does not match the model's outputs."""


class SourceError(BirdcamError):
    """A frame source (camera, video, folder, stream, screen) cannot be opened or read."""


class DatasetError(BirdcamError):
    """A training or evaluation dataset is missing, empty or malformed."""
