"""A work-around for PySide6 6.12.0 on CPython 3.11: its bindings return None and bools they hold no reference to.

Every call of a void Qt method (QPainter.setPen, QLabel.setText, ...) drops one reference to None,
and every `Signal.emit()` one to True. CPython 3.12+ made these objects immortal, so there it is
harmless; on 3.11 the live window frees None within seconds and aborts ("Fatal Python error:
none_dealloc"). Where a probe at import shows the leak, this gives None, True and False so many
references that they cannot run out (what 3.12 does). It changes nothing on a fixed PySide6 or on
Python 3.12+. Imported by `birdcam.gui` before anything else in it.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFont

_PROBE_CALLS = 64
_PLENTY = 1 << 56  # references added: ~10^17, more than calls a process can make


class _Probe(QObject):
    ping = Signal()


def _drops_references(call, singleton) -> bool:
    before = sys.getrefcount(singleton)
    results = [call() for _ in range(_PROBE_CALLS)]
    lost = before - sys.getrefcount(singleton) + sum(result is singleton for result in results)
    return lost >= _PROBE_CALLS


def _leaking_singletons() -> list:
    font, probe = QFont(), _Probe()
    leaking = []
    if _drops_references(lambda: font.setBold(True), None):
        leaking.append(None)
    if _drops_references(probe.ping.emit, True):
        leaking += [True, False]
    return leaking


def _make_immortal(singleton) -> None:
    reference_count = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt, the first field of every object
    reference_count.value += _PLENTY


PATCHED: tuple = ()
"""The singletons given extra references in this process (empty where PySide6 does not leak)."""

if sys.version_info < (3, 12):
    PATCHED = tuple(_leaking_singletons())
    for _singleton in PATCHED:
        _make_immortal(_singleton)
