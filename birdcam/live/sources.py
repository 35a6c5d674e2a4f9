"""Frame sources: camera, video file, image folder, stream URL, screen region.

Every source hands out HxWx3 uint8 BGR images from `read()`; `CaptureThread` (capture.py) numbers and
time-stamps them. Sources are Qt-free: screen capture takes a pluggable grabber (the window passes a
Qt one); without one it falls back to Pillow's ImageGrab when Pillow is installed.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import SourceError, first_line
from birdcam.models.image import IMAGE_SUFFIXES, as_bgr, read_image_scaled

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
SOURCE_KINDS = "camera:N (or N), a video file, an image folder, an rtsp:// or http(s):// URL, or screen[:X,Y,W,H]"
_STREAM_TIMEOUT_MS = 5000
_MAX_LAG_S = 1.0  # a paced source that falls this far behind restarts its clock instead of bursting

Region = tuple[int, int, int, int]
"""(x, y, width, height) in screen pixels."""
ScreenGrabber = Callable[["Region | None"], np.ndarray]
"""Returns the screen (region None: the whole primary screen) as HxWx3 uint8 BGR; raises on failure."""


@dataclass(frozen=True)
class Frame:
    """One captured image, numbered and time-stamped by the capture thread."""

    index: int
    """0, 1, 2, ... per source run (keeps counting across reconnects)."""
    image: np.ndarray
    """HxWx3 uint8 BGR."""
    t_capture: float
    """time.monotonic() when the image was captured."""
    scale: tuple[float, float] = (1.0, 1.0)
    """(x, y) from its pixels to those of the file it came from: a large photo is decoded reduced."""


@dataclass(frozen=True)
class CameraInfo:
    """A camera the platform reports."""

    index: int
    """The index to open it with (`camera:N`)."""
    name: str
    """Its name where the platform tells it, else "Camera N"."""


class _Pacer:
    """Sleeps so that successive calls to wait() return one period apart (real-time playback)."""

    def __init__(self, fps: float):
        self.period = 1.0 / fps
        self._due: float | None = None

    def wait(self) -> None:
        now = time.monotonic()
        if self._due is None or now - self._due > _MAX_LAG_S:
            self._due = now
        elif self._due > now:
            time.sleep(self._due - now)
        self._due += self.period

    def restart(self) -> None:
        self._due = None


class FrameSource:
    """Base of the sources. `with source:` opens it and closes it."""

    description: str = ""
    """Human-readable, e.g. "Camera 0 (HD Webcam)", "video: birds.mp4"."""
    is_live: bool = False
    """Camera, stream, screen: True (a failure is retried); files: False (a failure ends the run)."""
    retries_open: bool = False
    """A failure to open it at the start is retried too (a stream whose server is not up yet)."""
    fps: float | None = None
    """Nominal frame rate, if known."""
    on_notice: Callable[[str], None] | None = None
    """Told what the source passed over without ending (an image it cannot read), one line each."""
    scale: tuple[float, float] = (1.0, 1.0)
    """(x, y) from the pixels of the last image read to its file's (a large photo is decoded reduced)."""

    def open(self) -> None:
        """Opens (or reopens) the source. Raises SourceError with a one-line user message."""
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        """Blocks until the next image; None when a finite source has ended. Live sources raise SourceError when they
        drop."""
        raise NotImplementedError

    def close(self) -> None:
        """Releases the device or file; safe to call twice."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _CaptureSource(FrameSource):
    """Shared cv2.VideoCapture handling for cameras, video files and streams."""

    def __init__(self) -> None:
        self._capture: cv2.VideoCapture | None = None

    def _open_capture(self, capture: cv2.VideoCapture, failure: Callable[[], str]) -> None:
        self.close()
        if not capture.isOpened():
            capture.release()
            raise SourceError(failure())
        self._capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if 0 < fps <= 240 else None

    def _read_capture(self) -> np.ndarray | None:
        if self._capture is None:
            raise SourceError(f"{self.description} is not open; open it first")
        ok, image = self._capture.read()
        return as_bgr(image) if ok and image is not None and image.size else None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class CameraSource(_CaptureSource):
    """A camera by index (OpenCV's numbering)."""

    is_live = True

    def __init__(self, index: int, *, name: str | None = None):
        super().__init__()
        self.index = index
        self.name = name if name is not None else _camera_name(index)
        self.description = f"Camera {index}" + (f" ({self.name})" if self.name else "")

    def open(self) -> None:
        def failure() -> str:
            known = ", ".join(str(camera.index) for camera in list_cameras()) or "none found"
            return (
                f"camera {self.index} is not available (cameras: {known}); "
                "plug it in, close apps using it, or pick another"
            )

        self._open_capture(cv2.VideoCapture(self.index), failure)

    def read(self) -> np.ndarray:
        image = self._read_capture()
        if image is None:
            raise SourceError(
                f"camera {self.index} stopped sending frames; check its cable or whether another app took it"
            )
        return image


class VideoSource(_CaptureSource):
    """A video file, paced to its frame rate (realtime) and looped (loop) by default."""

    is_live = False

    def __init__(self, path: Path | str, *, realtime: bool = True, loop: bool = True):
        super().__init__()
        self.path = Path(path)
        self.realtime = realtime
        self.loop = loop
        self.description = f"video: {self.path.name}"
        self._pacer: _Pacer | None = None
        self._frames_this_pass = 0

    def open(self) -> None:
        self._open_file()
        self._pacer = _Pacer(self.fps or 30.0)

    def _open_file(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}; check the path")
        self._open_capture(
            cv2.VideoCapture(str(self.path)),
            lambda: f"cannot open {self.path.name} as a video (unsupported or damaged file); try another file",
        )
        self._frames_this_pass = 0

    def read(self) -> np.ndarray | None:
        image = self._read_capture()
        if image is None and self.loop and self._frames_this_pass > 0:
            self._open_file()  # reopening is more reliable than seeking, also on a truncated file
            image = self._read_capture()
        if image is None:
            if self._frames_this_pass == 0:
                raise SourceError(f"{self.path.name} has no readable frames (damaged file?); try another file")
            return None
        self._frames_this_pass += 1
        if self.realtime and self._pacer is not None:
            self._pacer.wait()
        return image


class ImageFolderSource(FrameSource):
    """A slideshow of the images in a folder (sorted, recursive) or of one image file.

    Each image is repeated for `seconds_per_image` at `fps`, so the frame sequence is the same with
    and without real-time pacing; unreadable images are skipped.
    """

    is_live = False

    def __init__(
        self,
        path: Path | str,
        *,
        seconds_per_image: float = 2.0,
        fps: float = 10.0,
        realtime: bool = True,
        loop: bool = True,
    ):
        if seconds_per_image <= 0 or fps <= 0:
            raise SourceError("seconds per image and fps must be positive numbers")
        self.path = Path(path)
        self.seconds_per_image = seconds_per_image
        self.fps = fps
        self.realtime = realtime
        self.loop = loop
        self.description = f"images: {self.path.name}"
        self.frames_per_image = max(1, round(seconds_per_image * fps))
        self._files: list[Path] = []
        self._position = 0
        self._image: np.ndarray | None = None
        self._repeats_left = 0
        self._read_any = False
        self._unreadable: set[Path] = set()
        self._pacer = _Pacer(fps)

    def open(self) -> None:
        if self.path.is_file():
            files = [self.path] if self.path.suffix.lower() in IMAGE_SUFFIXES else []
        elif self.path.is_dir():
            files = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            raise SourceError(f"image folder not found: {self.path}; check the path")
        if not files:
            raise SourceError(
                f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {self.path}; pick a folder of photos"
            )
        self._files = files
        self._position = 0
        self._image = None
        self._repeats_left = 0
        self._read_any = False
        self._pacer.restart()

    def read(self) -> np.ndarray | None:
        if self._repeats_left == 0:
            self._image = self._next_readable_image()
            if self._image is None:
                return None
            self._repeats_left = self.frames_per_image
        self._repeats_left -= 1
        if self.realtime:
            self._pacer.wait()
        return self._image

    def _next_readable_image(self) -> np.ndarray | None:
        for _ in range(len(self._files) + 1):
            if self._position == len(self._files):
                if not (self.loop and self._read_any):
                    break
                self._position = 0
            path = self._files[self._position]
            self._position += 1
            try:
                image, self.scale = read_image_scaled(path)
            except SourceError as error:
                if self.on_notice is not None and path not in self._unreadable:  # once, not on every loop
                    self.on_notice(f"skipped {path.name}: {first_line(error)}")
                self._unreadable.add(path)
                continue
            self._read_any = True
            return image
        if not self._read_any:
            raise SourceError(f"none of the {len(self._files)} images in {self.path} can be read; they may be damaged")
        return None

    def close(self) -> None:
        self._image = None


class StreamSource(_CaptureSource):
    """A network stream (rtsp, http(s) MJPEG/HLS...) through OpenCV's FFmpeg backend; CaptureThread reconnects it."""

    is_live = True
    retries_open = True

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self.description = f"stream: {_redact_password(url)}"

    def open(self) -> None:
        capture = cv2.VideoCapture(
            self.url,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, _STREAM_TIMEOUT_MS],
        )
        self._open_capture(
            capture,
            lambda: (
                f"cannot connect to {_redact_password(self.url)}; check the address and that the camera or server is on"
            ),
        )

    def read(self) -> np.ndarray:
        image = self._read_capture()
        if image is None:
            raise SourceError(f"{_redact_password(self.url)} stopped sending frames")
        return image


class ScreenSource(FrameSource):
    """The whole primary screen or a region of it, grabbed at `fps`.

    `grabber` does the capture; the window passes a Qt one. Without one, Pillow's ImageGrab is used
    if Pillow is installed (X11, Windows, macOS); otherwise opening fails with a message.
    """

    is_live = True

    def __init__(self, region: Region | None = None, *, grabber: ScreenGrabber | None = None, fps: float = 15.0):
        if region is not None and (region[2] <= 0 or region[3] <= 0):
            raise SourceError(f"screen region {region} has no area; give screen:X,Y,W,H with W and H > 0")
        self.region = region
        self.fps = fps
        self.description = "screen" if region is None else "screen: {},{} {}x{}".format(*region)
        self._grabber = grabber
        self._pacer = _Pacer(fps)

    def open(self) -> None:
        if self._grabber is None:
            self._grabber = _pillow_grabber()
        self._pacer.restart()
        self.read()  # fail now, with the grabber's reason, rather than in the capture loop

    def read(self) -> np.ndarray:
        if self._grabber is None:
            raise SourceError("screen capture is not open; open it first")
        self._pacer.wait()
        try:
            image = self._grabber(self.region)
        except SourceError:
            raise
        except Exception as error:  # a grabber is platform code: any failure is a dropped frame
            raise SourceError(f"screen capture failed ({first_line(error)}); check the region is on screen") from error
        if image is None or image.ndim not in (2, 3) or image.size == 0:
            raise SourceError("screen capture returned no image; check the region is on screen")
        return as_bgr(image)


def _pillow_grabber() -> ScreenGrabber:
    try:
        from PIL import ImageGrab
    except ImportError as error:
        raise SourceError(
            "screen capture without the window needs Pillow (pip install pillow); "
            "or pick the screen from the birdcam window"
        ) from error

    def grab(region: Region | None) -> np.ndarray:
        bbox = None if region is None else (region[0], region[1], region[0] + region[2], region[1] + region[3])
        try:
            picture = ImageGrab.grab(bbox=bbox)
        except Exception as error:  # Pillow raises OSError and others, e.g. with no display
            raise SourceError(
                f"screen capture is not available here ({first_line(error)}); pick the screen from the birdcam window"
            ) from error
        return cv2.cvtColor(np.asarray(picture.convert("RGB")), cv2.COLOR_RGB2BGR)

    return grab


def open_source(
    spec: str,
    *,
    realtime: bool = True,
    loop: bool = True,
    seconds_per_image: float = 2.0,
    screen_grabber: ScreenGrabber | None = None,
) -> FrameSource:
    """Makes the source a user named (not opened yet): camera:N or N, a video, an image folder or file, a URL,
    screen[:X,Y,W,H]."""
    text = spec.strip()
    camera = re.fullmatch(r"(?:camera:)?(\d+)", text)
    if camera:
        return CameraSource(int(camera.group(1)))
    if text.lower().startswith(STREAM_SCHEMES):
        return StreamSource(text)
    if text == "screen" or text.startswith("screen:"):
        return ScreenSource(_parse_region(text), grabber=screen_grabber)
    path = Path(text).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return ImageFolderSource(path, seconds_per_image=seconds_per_image, realtime=realtime, loop=loop)
    if path.is_file():
        return VideoSource(path, realtime=realtime, loop=loop)
    raise SourceError(f"no such source: {spec!r}; use {SOURCE_KINDS}")


def _parse_region(text: str) -> Region | None:
    if text == "screen":
        return None
    numbers = re.fullmatch(r"screen:\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*", text)
    if not numbers:
        raise SourceError(f"bad screen region {text!r}; write screen:X,Y,W,H in pixels, e.g. screen:0,0,1280,720")
    x, y, width, height = (int(value) for value in numbers.groups())
    if width == 0 or height == 0:
        raise SourceError(f"screen region {text!r} has no area; W and H must be > 0")
    return (x, y, width, height)


def list_cameras(sysfs: Path = Path("/sys/class/video4linux")) -> list[CameraInfo]:
    """The cameras with their names. Linux: read from sysfs (cheap, opens nothing); elsewhere: probe indices 0-3."""
    try:
        if sys.platform.startswith("linux"):
            return _linux_cameras(sysfs)
        return _probed_cameras(range(4))
    except Exception:  # listing is a convenience: never let it break the app
        return []


def _linux_cameras(sysfs: Path) -> list[CameraInfo]:
    cameras = []
    for node in sysfs.glob("video*"):
        number = re.fullmatch(r"video(\d+)", node.name)
        if not number:
            continue
        node_index = _read_text(node / "index")
        if node_index not in (None, "0"):
            continue  # a UVC camera's second node carries metadata, not frames
        index = int(number.group(1))
        cameras.append(CameraInfo(index, _read_text(node / "name") or f"Camera {index}"))
    return sorted(cameras, key=lambda camera: camera.index)


def _probed_cameras(indices) -> list[CameraInfo]:
    cameras = []
    for index in indices:
        capture = cv2.VideoCapture(index)
        if capture.isOpened():
            cameras.append(CameraInfo(index, f"Camera {index}"))
        capture.release()
    return cameras


def _camera_name(index: int) -> str:
    if sys.platform.startswith("linux"):
        return _read_text(Path(f"/sys/class/video4linux/video{index}/name")) or ""
    return ""


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _redact_password(url: str) -> str:
    return re.sub(r"//([^/@:]+):[^/@]*@", r"//\1:***@", url)
