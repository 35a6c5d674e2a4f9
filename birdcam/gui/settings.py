"""What the window remembers between runs: typed accessors over QSettings, one place for every key."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from birdcam.live.inference import LiveSettings
from birdcam.scene.smoothing import SmoothingOptions


class WindowSettings:
    """The window's persisted choices. Each property reads or writes one QSettings key."""

    def __init__(self, settings: QSettings):
        self.qsettings = settings

    def _get(self, key: str, default, kind):
        return self.qsettings.value(key, default, type=kind)

    # -- what runs -------------------------------------------------------------------------

    @property
    def live(self) -> LiveSettings:
        """Threshold (None: the model's own, also for a stored value out of 0-1), smoothing and the still camera, as
        the inference process takes them."""
        threshold = self._get("threshold", -1.0, float)
        return LiveSettings(
            threshold=threshold if 0 <= threshold <= 1 else None,
            smoothing=self._get("smoothing", True, bool),
            still_camera=self._get("still_camera", False, bool),
        )

    @live.setter
    def live(self, settings: LiveSettings) -> None:
        self.qsettings.setValue("threshold", settings.threshold if settings.threshold is not None else -1.0)
        self.qsettings.setValue("smoothing", settings.smoothing)
        self.qsettings.setValue("still_camera", settings.still_camera)

    @property
    def model(self) -> str | None:
        """A model the user opened in the window (Model > Open model); None: the default model."""
        return self._get("model", "", str) or None

    @model.setter
    def model(self, path: str | None) -> None:
        self.qsettings.setValue("model", path or "")

    @property
    def detector(self) -> str | None:
        """A detector the user opened in the window; None: the default detector."""
        return self._get("detector", "", str) or None

    @detector.setter
    def detector(self, path: str | None) -> None:
        self.qsettings.setValue("detector", path or "")

    @property
    def detection(self) -> bool:
        """Find every bird with the detector (False: name the whole frame only)."""
        return self._get("detection", True, bool)

    @detection.setter
    def detection(self, on: bool) -> None:
        self.qsettings.setValue("detection", on)

    @property
    def notify(self) -> bool:
        """A tray message when a species is seen for the first time today or ever."""
        return self._get("notify", True, bool)

    @notify.setter
    def notify(self, on: bool) -> None:
        self.qsettings.setValue("notify", on)

    @property
    def muted(self) -> tuple[str, ...]:
        """Species that never get a new-species message."""
        text = self._get("muted", "", str)
        return tuple(name for name in text.split("\n") if name)

    @muted.setter
    def muted(self, names) -> None:
        self.qsettings.setValue("muted", "\n".join(names))

    @property
    def species_lists(self) -> tuple[Path | None, Path | None]:
        """(allow list file, deny list file) the user picked in the Detection dock; None for none."""
        allow, deny = self._get("allow_list", "", str), self._get("deny_list", "", str)
        return (Path(allow) if allow else None), (Path(deny) if deny else None)

    @species_lists.setter
    def species_lists(self, files: tuple[Path | None, Path | None]) -> None:
        allow, deny = files
        self.qsettings.setValue("allow_list", str(allow) if allow else "")
        self.qsettings.setValue("deny_list", str(deny) if deny else "")

    @property
    def source(self) -> str:
        """The last source opened ("" for none); files and folders as absolute paths."""
        return self._get("source", "", str)

    @source.setter
    def source(self, spec: str) -> None:
        self.qsettings.setValue("source", spec)

    @property
    def loop(self) -> bool:
        """Start videos and folders again at their end."""
        return self._get("loop", True, bool)

    @loop.setter
    def loop(self, loop: bool) -> None:
        self.qsettings.setValue("loop", loop)

    @property
    def screen_region(self) -> tuple[int, int, int, int] | None:
        saved = self._get("screen_region", "", str)
        try:
            values = tuple(int(v) for v in saved.split(","))
        except ValueError:
            return None
        return values if len(values) == 4 else None

    @screen_region.setter
    def screen_region(self, region: tuple[int, int, int, int]) -> None:
        self.qsettings.setValue("screen_region", ",".join(str(v) for v in region))

    # -- how it looks ----------------------------------------------------------------------

    @property
    def top_k(self) -> int:
        return self._get("top_k", SmoothingOptions().top_k, int)

    @top_k.setter
    def top_k(self, value: int) -> None:
        self.qsettings.setValue("top_k", value)

    @property
    def mirror(self) -> bool:
        return self._get("mirror", False, bool)

    @mirror.setter
    def mirror(self, mirror: bool) -> None:
        self.qsettings.setValue("mirror", mirror)

    def window_geometry(self) -> tuple[QByteArray | None, QByteArray | None]:
        """(geometry, dock and toolbar state) saved at the last close, None where there is none."""
        geometry, state = self.qsettings.value("geometry"), self.qsettings.value("window_state")

        def valid(value):
            return value if isinstance(value, QByteArray) and not value.isEmpty() else None

        return valid(geometry), valid(state)

    def save_window_geometry(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("geometry", geometry)
        self.qsettings.setValue("window_state", state)

    def sync(self) -> None:
        self.qsettings.sync()


def absolute_source(spec: str) -> str:
    """A file or folder source as an absolute path (so the saved one works from any folder); others as given."""
    path = Path(spec).expanduser()
    if path.exists():
        return str(path.resolve())
    return spec
