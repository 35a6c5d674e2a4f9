"""birdcam.util.fileio: checking an output place before the work starts, free space, one line for a failed write."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections import namedtuple
from pathlib import Path

import pytest

from birdcam.errors import OutputError
from birdcam.util import fileio

NOBODY = 65534


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_an_output_folder_may_exist_or_be_new_and_nothing_is_created(tmp_path):
    (tmp_path / "existing").mkdir()

    assert fileio.check_output_folder(tmp_path / "existing") == tmp_path / "existing"
    assert fileio.check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert fileio.check_output_file(tmp_path / "new" / "chart.png") == tmp_path / "new" / "chart.png"
    assert _listing(tmp_path) == ["existing"]  # the probe file is gone, no folder was made


def test_a_file_where_a_folder_is_wanted_and_the_reverse(tmp_path):
    a_file = tmp_path / "report.txt"
    a_file.write_text("keep me")

    with pytest.raises(OutputError, match=r"^--out .*report.txt is a file, not a folder"):
        fileio.check_output_folder(a_file)
    with pytest.raises(OutputError, match=r"report.txt is a file, not a folder\.$"):
        fileio.check_output_folder(a_file / "sub", "--out")
    with pytest.raises(OutputError, match=r"^--log .* is a folder; give a file name, e\.g\. .*live\.jsonl\.$"):
        fileio.check_output_file(tmp_path, "--log", example="live.jsonl")
    with pytest.raises(OutputError, match=r"report.txt is a file, not a folder"):
        fileio.check_output_file(a_file / "x.png")
    assert a_file.read_text() == "keep me"


@contextlib.contextmanager
def _folder_others_can_enter():
    """A temporary folder outside pytest's private ones, so that the checks can run as `nobody` in it."""
    folder = Path(tempfile.mkdtemp(prefix="birdcam-fileio-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


@contextlib.contextmanager
def _as_nobody_if_root():
    """Root writes through permission bits: as root, the block runs with the effective ids of `nobody`."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_a_folder_without_write_permission_is_refused_in_one_line():
    with _folder_others_can_enter() as folder:
        locked = folder / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        with _as_nobody_if_root(), pytest.raises(OutputError) as folder_refused:
            fileio.check_output_folder(locked / "report")
        with _as_nobody_if_root(), pytest.raises(OutputError) as file_refused:
            fileio.check_output_file(locked / "chart.png", "--log")

        assert (
            str(folder_refused.value)
            == f"cannot write --out {locked / 'report'}: Permission denied in {locked}; pick another place."
        )
        assert (
            str(file_refused.value)
            == f"cannot write --log {locked / 'chart.png'}: Permission denied in {locked}; pick another place."
        )
        assert list(locked.iterdir()) == []


DiskUsage = namedtuple("DiskUsage", "total used free")


def test_free_space_is_checked_against_what_will_be_written(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: DiskUsage(10**9, 10**9 - 3_000_000, 3_000_000))

    fileio.check_free_space(tmp_path, 2_000_000, "run it again")  # fits, margin included
    with pytest.raises(OutputError) as raised:
        fileio.check_free_space(tmp_path / "not-yet", 2_990_000, "run `birdcam train --resume runs/a`")

    assert str(raised.value) == (
        f"not enough space in {tmp_path}: 3.1 MB needed, 3.0 MB free. "
        "Free some space, then run `birdcam train --resume runs/a`."
    )


def test_a_failed_write_is_one_line_saying_which_file_and_why():
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/models/.birds.tflite.7.partial")

    message = str(fileio.write_error(error, "run `birdcam train --resume runs/a` to install it"))

    assert message == (
        "cannot write /models/.birds.tflite.7.partial: No space left on device. "
        "Run `birdcam train --resume runs/a` to install it."
    )
