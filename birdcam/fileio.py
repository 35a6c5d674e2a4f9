"""Writing files so that a kill, a full disk or an error never leaves half a file under the real name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str = "") -> Iterator[Path]:
    """Yields a hidden temporary path beside `path`; it is renamed onto `path` only if the block succeeds.

    The temporary file is removed whatever happens. `suffix` is appended for writers that insist on a
    file ending (Keras wants ".weights.h5", NumPy ".npz").
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial{suffix}")
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
        pid = partial.name[len(path.name) + 2:].split(".", 1)[0]
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
