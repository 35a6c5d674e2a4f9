"""The PySide6 6.12.0 emit work-around: thousands of emits leave True's reference count alone."""

from __future__ import annotations

import sys


def test_many_emits_do_not_eat_references_to_true(qapp):
    from PySide6.QtCore import QObject, Signal

    from birdcam.gui.qtfix import emit

    class Source(QObject):
        happened = Signal(object)

    source = Source()
    received = []
    source.happened.connect(received.append)
    before = sys.getrefcount(True)
    for index in range(5000):
        emit(source.happened, index)
    assert len(received) == 5000
    assert abs(sys.getrefcount(True) - before) < 50
