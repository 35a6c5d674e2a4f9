"""A work-around for PySide6 6.12.0, whose `SignalInstance.emit` returns a bool it does not own a reference to.

Every emit from Python then drops one reference to True. The live pipeline emits several signals
per frame, so after a few thousand frames CPython frees True and aborts ("Fatal Python error:
bool_dealloc"). `emit()` below gives the reference back, and only where a probe at import shows
the installed PySide6 has the bug, so a fixed release needs no change here. Every signal birdcam
emits from Python goes through it.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBE_EMITS = 32

_increment = ctypes.pythonapi.Py_IncRef
_increment.argtypes = [ctypes.py_object]
_increment.restype = None


class _Probe(QObject):
    ping = Signal()


def _emit_drops_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    results = [probe.ping.emit() for _ in range(_PROBE_EMITS)]
    lost = before - sys.getrefcount(True) + results.count(True)  # the list holds references of its own
    if lost >= _PROBE_EMITS:
        for result in results:
            _increment(result)
        return True
    return False


EMIT_DROPS_A_REFERENCE = _emit_drops_a_reference()
"""True where this PySide6's emit has the bug."""


def emit(signal, *args) -> None:
    """`signal.emit(*args)`, safe on every PySide6."""
    result = signal.emit(*args)
    if EMIT_DROPS_A_REFERENCE and isinstance(result, bool):
        _increment(result)
