"""Writing files so that a kill, a full disk or an error never leaves half a file under the real name,
and checking an output place before the work that fills it starts."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from birdcam.errors import OutputError, first_line


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a hidden temporary path beside `path`; it is renamed onto `path` only if the block succeeds.

    The temporary file is removed whatever happens.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def remove_stale_partials(path: Path) -> None:
    """Removes temporary files atomic_path left beside `path` in processes that no longer run (killed hard)."""
    path = Path(path)
    if os.name != "posix" or not path.parent.is_dir():
        return  # no cheap, safe way to ask whether a pid lives elsewhere
    for partial in path.parent.glob(f".{path.name}.*.partial*"):
        pid = partial.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                partial.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_atomically(path: Path, content: bytes) -> None:
    """Writes `content` beside the target, then renames it into place."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(content)


def write_text_atomically(path: Path, text: str) -> None:
    """UTF-8 text, written like write_atomically."""
    write_atomically(path, text.encode("utf-8"))


def check_output_folder(path: Path, option: str = "--out") -> Path:
    """Raises OutputError unless `path` is a folder birdcam can write into, or one it can create.

    Called before the work starts, so a long run does not fail at its end. Creates nothing: a probe
    file is made and removed in the folder (or its nearest existing parent), which, unlike
    os.access, also catches read-only file systems and root on such places.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} is a file, not a folder; give a folder (it may not exist yet).")
    _check_can_create_in(_nearest_existing(path), path, option)
    return path


def check_output_file(path: Path, option: str = "--out", example: str = "out.txt") -> Path:
    """Raises OutputError unless a file can be written at `path` (replacing one there); creates nothing.

    `example` is the file name suggested inside a folder given instead of a file.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name, e.g. {path / example}.")
    _check_can_create_in(_nearest_existing(path.parent), path, option)
    return path


def check_free_space(folder: Path, needed_bytes: int, then: str) -> None:
    """Raises OutputError when the disk of `folder` has less than `needed_bytes` (and a small margin) free.

    `then` says what to do once space is freed. Writers check first, so that a full disk stops them
    before anything is half-written, and before native writers (TensorFlow's) meet it with their own errors.
    """
    folder = _nearest_existing(Path(folder))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the write itself will say
    needed_bytes += needed_bytes // 50 + 64 * 1024  # file system blocks and metadata
    if free < needed_bytes:
        raise OutputError(
            f"not enough space in {folder}: {_megabytes(needed_bytes)} needed, {_megabytes(free)} free. "
            f"Free some space, then {then}."
        )


def write_error(error: OSError, then: str, target: Path | None = None) -> OutputError:
    """The one line for a write that failed: where (`target`, else the error's file), why (e.g. "No space left
    on device"), and `then`, what to do."""
    where = f" {target or error.filename}" if target or error.filename else ""
    reason = error.strerror or first_line(error)
    return OutputError(f"cannot write{where}: {reason}. {then[:1].upper()}{then[1:]}.")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_can_create_in(existing: Path, wanted: Path, option: str) -> None:
    if not existing.is_dir():
        raise OutputError(f"cannot write {option} {wanted}: {existing} is a file, not a folder.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".birdcam-write-test-", dir=existing)
    except OSError as error:
        raise OutputError(
            f"cannot write {option} {wanted}: {error.strerror or first_line(error)} in {existing}; pick another place."
        ) from None
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"
