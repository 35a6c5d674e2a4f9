"""The progress line: drawn on a terminal only, rewritten in place, cleared at the end, out of the way of printed
lines."""

from __future__ import annotations

import io
import re
import sys

import pytest
from terminal import terminal_streams

from birdcam.util import progress as progress_module
from birdcam.util.progress import DownloadProgress, Progress, format_duration


@pytest.fixture
def every_update_drawn(monkeypatch):
    monkeypatch.setattr(progress_module, "REDRAW_INTERVAL_S", 0.0)


def test_on_a_terminal_the_line_is_rewritten_and_cleared(every_update_drawn):
    with terminal_streams(stdout=False, stderr=True) as run:
        with Progress(4, "predict", "images") as progress:
            for _ in progress.track(range(4)):
                pass
    frames = run.terminal.split("\r")
    assert "predict: 0/4 images" in frames
    # A line shorter than the one before is padded with blanks over the rest of it (a rate of 12000.5/s, then 9000.2/s).
    assert any(frame.startswith("predict: 2/4 images, ") and frame.rstrip().endswith(" left") for frame in frames)
    assert any(frame.startswith("predict: 4/4 images, ") for frame in frames)
    assert "\n" not in run.terminal  # one line, rewritten
    assert run.terminal.endswith("\r") and frames[-2].strip() == ""  # cleared: blanks over the last text
    assert len(frames[-2]) >= max(len(frame) for frame in frames)


def test_nothing_is_drawn_when_the_stream_is_not_a_terminal(every_update_drawn, capsys):
    stream = io.StringIO()
    with Progress(3, "evaluate", "images", stream=stream) as progress:
        for _ in progress.track(range(3)):
            progress.print("a result")
    assert stream.getvalue() == ""
    assert not progress.enabled
    assert capsys.readouterr().out == "a result\n" * 3


def test_printed_lines_go_above_the_progress_line(every_update_drawn):
    with terminal_streams(stdout=True, stderr=True) as run:
        with Progress(2, "predict", "images") as progress:
            for name in progress.track(["a.jpg", "b.jpg"]):
                progress.print(f"{name}: Mandarin Duck")
    # Each result starts on a cleared line and ends with a newline; the progress line comes back after it.
    for name in ("a.jpg", "b.jpg"):
        before, _, after = run.terminal.partition(f"{name}: Mandarin Duck\n")
        assert re.search(r"predict: [^\r]*\r +\r$", before)  # the progress line was blanked first
        assert after.startswith("\rpredict: ")


def test_unknown_total_and_slow_items():
    stream = io.StringIO()
    epoch = Progress(None, "epoch 1/3", "batches", stream=stream)
    epoch.advance(detail="loss 0.4100")
    assert epoch.line(epoch.started + 4.0) == "epoch 1/3: 1 batches, 4.0 s each, loss 0.4100"
    files = Progress(10, "predict", "images", stream=stream)
    files.advance(5)
    assert files.line(files.started + 5.0) == "predict: 5/10 images, 1.0/s, 0:05 left"
    assert Progress(10, "predict", "images", stream=stream).line() == "predict: 0/10 images"


def test_durations():
    assert [format_duration(s) for s in (7, 750, 7500, 0.4)] == ["0:07", "12:30", "2:05:00", "0:00"]


def test_a_closed_or_odd_stream_is_not_a_terminal():
    closed = io.StringIO()
    closed.close()
    assert not Progress(1, "x", stream=closed).enabled
    assert not Progress(1, "x", stream=object()).enabled
    assert Progress(1, "x").stream is sys.stderr


def test_a_download_rewrites_one_terminal_line_and_ends_it():
    with terminal_streams(stdout=False, stderr=True) as run:
        progress = DownloadProgress("the starter detector")
        for done in (0, 1_500_000, 3_000_000):
            progress(done, 3_000_000)
        DownloadProgress("a file of unknown size")(1_000, None)  # nothing to show without the size
    assert run.terminal.split("\r") == [
        "",
        "downloading the starter detector:   0% of 3.0 MB",
        "downloading the starter detector:  50% of 3.0 MB",
        "downloading the starter detector: 100% of 3.0 MB\n",
    ]


def test_a_download_is_silent_off_a_terminal_and_reports_each_percent_once_to_the_window():
    stream = io.StringIO()
    DownloadProgress(stream=stream)(10, 100)
    assert stream.getvalue() == ""
    lines: list[str] = []
    progress = DownloadProgress(report=lines.append).of("the starter model")
    for done in (0, 1, 2, 150, 199, 200):
        progress(done, 200)
    assert lines == [
        "Downloading the starter model: 0%",
        "Downloading the starter model: 1%",
        "Downloading the starter model: 75%",
        "Downloading the starter model: 99%",
        "Downloading the starter model: 100%",
    ]
    unknown: list[str] = []
    sized = DownloadProgress("a stream", report=unknown.append)
    sized(2_500_000, None)
    sized(5_000_000, None)
    assert unknown == ["Downloading a stream: 2.5 MB"]  # once: without a size there is no percent to follow
