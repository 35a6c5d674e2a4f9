"""Frame sources on real files: videos and folders built here from the shared bird photos."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from birdcam.errors import SourceError
from birdcam.live.sources import (
    CameraInfo,
    CameraSource,
    ImageFolderSource,
    ScreenSource,
    StreamSource,
    VideoSource,
    list_cameras,
    open_source,
)


def bird_photos(shared_dir: Path, count: int) -> list[np.ndarray]:
    paths = sorted((shared_dir / "birds525-sample" / "valid").glob("*/1.jpg"))[:count]
    assert len(paths) == count
    return [cv2.imread(str(path)) for path in paths]


def write_video(path: Path, images: list[np.ndarray], fps: float = 30.0, fourcc: str = "MJPG") -> Path:
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for image in images:
        writer.write(image)
    writer.release()
    return path


def nearest(image: np.ndarray, originals: list[np.ndarray]) -> int:
    """Index of the original photo the decoded image is closest to (lossy codecs change pixels a little)."""
    errors = [np.abs(image.astype(np.int16) - original.astype(np.int16)).mean() for original in originals]
    return int(np.argmin(errors))


def read_all(source, limit: int) -> list[np.ndarray]:
    images = []
    while len(images) < limit:
        image = source.read()
        if image is None:
            break
        images.append(image)
    return images


@pytest.fixture
def photos(shared_dir):
    return bird_photos(shared_dir, 6)


@pytest.fixture
def clip(tmp_path, photos):
    """An MJPG .avi at 30 fps: each of the 6 photos for 2 frames."""
    return write_video(tmp_path / "clip.avi", [photo for photo in photos for _ in range(2)])


def test_video_without_pacing_reads_every_frame_in_order_then_ends(clip, photos):
    with VideoSource(clip, realtime=False, loop=False) as source:
        images = read_all(source, 100)
        assert source.read() is None
        assert source.fps == pytest.approx(30.0)
    assert [nearest(image, photos) for image in images] == [i // 2 for i in range(12)]
    assert all(image.shape == (224, 224, 3) and image.dtype == np.uint8 for image in images)


def test_video_at_real_time_is_paced_to_its_frame_rate(clip):
    with VideoSource(clip, realtime=True, loop=False) as source:
        stamps = []
        while source.read() is not None:
            stamps.append(time.monotonic())
    spacing = np.diff(stamps)
    assert len(stamps) == 12
    assert np.median(spacing) == pytest.approx(1 / 30, abs=0.008)
    assert stamps[-1] - stamps[0] >= 11 / 30 * 0.9


def test_video_loops_by_default(clip, photos):
    with VideoSource(clip, realtime=False) as source:
        images = read_all(source, 30)
    assert len(images) == 30
    assert [nearest(image, photos) for image in images] == [(i % 12) // 2 for i in range(30)]


def test_truncated_video_plays_what_it_can_then_ends_or_loops(tmp_path, photos):
    images = [photo for photo in photos for _ in range(5)]
    clip = write_video(tmp_path / "cut.avi", images)
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])

    with VideoSource(clip, realtime=False, loop=False) as source:
        played = read_all(source, 100)
        assert source.read() is None
    assert 5 <= len(played) < len(images)
    whole = played[:-1]  # the frame cut in half decodes as a damaged picture, but still comes out
    assert [nearest(image, photos) for image in whole] == [i // 5 for i in range(len(whole))]

    with VideoSource(clip, realtime=False, loop=True) as source:
        looped = read_all(source, 2 * len(played) + 1)
    assert len(looped) == 2 * len(played) + 1
    assert nearest(looped[len(played)], photos) == 0


def test_video_without_its_index_is_a_clear_error(tmp_path, photos):
    clip = write_video(tmp_path / "cut.mp4", photos, fourcc="mp4v")
    clip.write_bytes(clip.read_bytes()[:-2000])  # mp4v keeps the index (moov) at the end
    with pytest.raises(SourceError, match="cut.mp4") as error:
        VideoSource(clip).open()
    assert "\n" not in str(error.value)


def test_not_a_video_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    with pytest.raises(SourceError, match="cannot open notes.mp4 as a video"):
        VideoSource(bogus).open()


def test_missing_camera_is_a_clear_error():
    source = open_source("camera:99")
    assert isinstance(source, CameraSource) and source.index == 99 and source.is_live
    with pytest.raises(SourceError, match="camera 99 is not available"):
        source.open()
    source.close()


def test_image_folder_is_a_sorted_recursive_slideshow_skipping_unreadable_files(tmp_path, photos):
    folder = tmp_path / "photos"
    (folder / "b").mkdir(parents=True)
    cv2.imwrite(str(folder / "a.jpg"), photos[0])
    cv2.imwrite(str(folder / "b" / "c.png"), photos[2])
    cv2.imwrite(str(folder / "b" / "a.jpg"), photos[1])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("ignored")

    with ImageFolderSource(folder, seconds_per_image=0.3, fps=10, realtime=False, loop=False) as source:
        shown = read_all(source, 100)
    assert [nearest(image, photos) for image in shown] == [0, 0, 0, 1, 1, 1, 2, 2, 2]

    with ImageFolderSource(folder, seconds_per_image=0.1, fps=10, realtime=False) as source:
        assert [nearest(image, photos) for image in read_all(source, 7)] == [0, 1, 2, 0, 1, 2, 0]


def test_image_folder_of_unreadable_or_no_images_is_a_clear_error(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"garbage")
    with ImageFolderSource(tmp_path, realtime=False) as source:
        with pytest.raises(SourceError, match="none of the 1 images"):
            source.read()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(empty).open()


def test_open_source_picks_the_source_the_spec_names(tmp_path, clip, photos):
    cv2.imwrite(str(tmp_path / "one.jpg"), photos[0])
    assert isinstance(open_source("3"), CameraSource) and open_source("3").index == 3
    assert isinstance(open_source(str(clip)), VideoSource)
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)
    still = open_source(str(tmp_path / "one.jpg"), seconds_per_image=0.5)
    assert isinstance(still, ImageFolderSource) and still.frames_per_image == 5
    stream = open_source("rtsp://user:secret@192.0.2.1/live")
    assert isinstance(stream, StreamSource) and "secret" not in stream.description
    assert open_source("screen").region is None
    assert open_source("screen:10,20,640,360").region == (10, 20, 640, 360)
    for bad in ("screen:1,2", "screen:0,0,0,10"):
        with pytest.raises(SourceError, match="screen"):
            open_source(bad)
    with pytest.raises(SourceError, match="no such source: 'nowhere.mp4'; use camera:N"):
        open_source("nowhere.mp4")


def test_stream_reads_frames_over_http(clip, photos):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip.parent))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with open_source(f"http://127.0.0.1:{server.server_address[1]}/{clip.name}") as source:
                images = [source.read() for _ in range(4)]
        finally:
            server.shutdown()
    assert [nearest(image, photos) for image in images] == [0, 0, 1, 1]


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_stream_is_a_clear_error():
    port = closed_port()
    with pytest.raises(SourceError, match=f"cannot connect to http://127.0.0.1:{port}/cam"):
        StreamSource(f"http://127.0.0.1:{port}/cam").open()


def test_screen_source_grabs_its_region_through_the_grabber_at_its_rate(photos):
    screen = np.zeros((400, 600, 3), np.uint8)
    screen[100:324, 200:424] = photos[0]
    regions = []

    def grab(region):
        regions.append(region)
        x, y, width, height = region
        return screen[y : y + height, x : x + width].copy()

    with ScreenSource((200, 100, 224, 224), grabber=grab, fps=20) as source:
        start = time.monotonic()
        images = [source.read() for _ in range(6)]
        elapsed = time.monotonic() - start
    assert all(np.array_equal(image, photos[0]) for image in images)
    assert set(regions) == {(200, 100, 224, 224)}
    assert elapsed >= 5 / 20 * 0.9


def test_screen_source_turns_a_bgra_grab_into_bgr(photos):
    bgra = cv2.cvtColor(photos[1], cv2.COLOR_BGR2BGRA)
    with ScreenSource(grabber=lambda region: bgra) as source:
        assert np.array_equal(source.read(), photos[1])


def test_screen_source_failures_are_source_errors():
    def broken(region):
        raise RuntimeError("display went away\nsecond line")

    with pytest.raises(SourceError, match=r"screen capture failed \(display went away\)"):
        ScreenSource(grabber=broken).open()


def test_screen_without_a_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceError, match="screen capture"):
        ScreenSource().open()


def test_list_cameras_reads_names_and_skips_metadata_nodes(tmp_path):
    for node, index, name in (("video0", "0", "HD Webcam"), ("video1", "1", "HD Webcam"), ("video2", "0", "USB Cam")):
        (tmp_path / node).mkdir()
        (tmp_path / node / "index").write_text(index + "\n")
        (tmp_path / node / "name").write_text(name + "\n")
    (tmp_path / "v4l-subdev0").mkdir()
    assert list_cameras(tmp_path) == [CameraInfo(0, "HD Webcam"), CameraInfo(2, "USB Cam")]
    assert list_cameras(tmp_path / "absent") == []


# -- decoding image files: bounded memory, no libjpeg noise -------------------------------------


def test_a_jpeg_size_is_read_from_its_header(shared_dir, tmp_path):
    from huge_jpeg import write_grey_jpeg

    from birdcam.models.image import jpeg_size

    duck = shared_dir / "images" / "birds" / "mandarin_duck.jpg"
    photo = cv2.imread(str(duck))
    progressive = tmp_path / "progressive.jpg"
    cv2.imwrite(str(progressive), photo[:500, :700], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    png = tmp_path / "duck.png"
    cv2.imwrite(str(png), photo)

    assert jpeg_size(duck.read_bytes()) == (photo.shape[1], photo.shape[0])
    assert jpeg_size(np.fromfile(str(progressive), np.uint8)) == (700, 500)
    assert jpeg_size(write_grey_jpeg(tmp_path / "huge.jpg", 20000, 12000).read_bytes()) == (20000, 12000)
    assert jpeg_size(png.read_bytes()) is None
    assert jpeg_size(b"\xff\xd8\xff\xe0\x00") is None  # cut inside the first segment


def test_a_large_jpeg_is_decoded_reduced_just_enough(shared_dir, tmp_path):
    from birdcam.models.image import MAX_DECODED_SIDE, read_image

    photo = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    for width, factor in ((MAX_DECODED_SIDE, 1), (4200, 2), (8200, 4), (16800, 8)):
        height = width * 3 // 4
        large = cv2.resize(photo, (width, height), interpolation=cv2.INTER_LINEAR)
        path = tmp_path / f"{width}.jpg"
        cv2.imwrite(str(path), large, [cv2.IMWRITE_JPEG_QUALITY, 95])
        del large

        image = read_image(path)

        expected = (-(-height // factor), -(-width // factor))
        assert image.shape == (*expected, 3), width
        reference = cv2.resize(photo, expected[::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(image.astype(np.int16) - reference.astype(np.int16)).mean() < 4, width


def test_reading_a_huge_jpeg_takes_a_fraction_of_its_full_size(shared_dir, tmp_path):
    import subprocess
    import sys

    from huge_jpeg import GREY, write_grey_jpeg

    huge = write_grey_jpeg(tmp_path / "huge.jpg", 20000, 20000)
    script = (
        "import resource, sys\n"
        "from birdcam.models.image import read_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "image = read_image(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(image.shape, int(image.min()), int(image.max()), (after - before) * 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(huge)], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    shape, low, high, growth = done.stdout.rsplit(" ", 3)
    assert shape == "(2500, 2500, 3)" and int(low) == int(high) == GREY
    assert int(growth) < 20000 * 20000 * 3 / 20  # the full decode would take 1.2 GB


def test_an_image_folder_shows_a_huge_jpeg_reduced_and_a_damaged_one_quietly(shared_dir, tmp_path, capfd):
    from huge_jpeg import write_grey_jpeg

    write_grey_jpeg(tmp_path / "a_huge.jpg", 20000, 16000)
    photo = (shared_dir / "images" / "birds" / "mandarin_duck.jpg").read_bytes()
    (tmp_path / "b_cut_short.jpg").write_bytes(photo[: len(photo) // 2] + b"\xff\xd9")  # libjpeg: "Corrupt JPEG data"

    with ImageFolderSource(tmp_path, seconds_per_image=0.1, fps=10, realtime=False, loop=False) as source:
        shown = read_all(source, 10)

    assert [image.shape for image in shown] == [(2000, 2500, 3), (768, 1024, 3)]
    assert capfd.readouterr().err == ""
