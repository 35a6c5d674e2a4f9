"""The Detection dock: no-bird threshold, how many labels the overlay names, smoothing and mirror."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget

MAX_TOP_K = 6
"""The most labels the overlay names (the shown one and the runners-up)."""


class DetectionPanel(QWidget):
    """The controls; it only reports what the user changed (signals) and shows what it is told."""

    threshold_moved = Signal(float)
    """The user moved the slider (0-1)."""
    threshold_reset = Signal()
    """The user asked for the model's own threshold."""
    top_k_changed = Signal(int)

    def __init__(self, *, top_k: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setMinimumWidth(120)
        self.threshold_slider.setToolTip("Below this confidence (or on the background class) a bird is not named")
        self.threshold_slider.valueChanged.connect(lambda value: self.threshold_moved.emit(value / 100))
        self.threshold_label = QLabel()
        self.threshold_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        reset = QPushButton("Reset")
        reset.setToolTip("Use the threshold the model was calibrated with")
        reset.clicked.connect(self.threshold_reset)
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setRange(1, MAX_TOP_K)
        self.top_k_spin.setValue(top_k)
        self.top_k_spin.valueChanged.connect(self.top_k_changed)
        self.smoothing_check = QCheckBox("Smooth over time")
        self.mirror_check = QCheckBox("Mirror picture")
        for widget in (self.threshold_slider, self.top_k_spin, self.smoothing_check, self.mirror_check, reset):
            widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys go to the window's shortcuts

        title = QHBoxLayout()
        title.addWidget(QLabel("No-bird threshold"), 1)
        title.addWidget(self.threshold_label)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.threshold_slider, 1)
        slider_row.addWidget(reset)
        top_k_row = QHBoxLayout()
        top_k_row.addWidget(QLabel("Labels named (top-k)"), 1)
        top_k_row.addWidget(self.top_k_spin)
        self.column = QVBoxLayout(self)
        self.column.addLayout(title)
        self.column.addLayout(slider_row)
        self.column.addSpacing(6)
        self.column.addLayout(top_k_row)
        self.column.addWidget(self.smoothing_check)
        self.column.addWidget(self.mirror_check)
        self.column.addStretch(1)
        self.setMinimumWidth(320)

    def show_threshold(self, threshold: float) -> None:
        """Shows the threshold in use without reporting it back as a user's move."""
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(threshold * 100))
        self.threshold_slider.blockSignals(False)
        self.threshold_label.setText(f"{threshold:.2f}")
