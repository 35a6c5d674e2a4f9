"""The Detection dock: no-bird threshold, labels named, smoothing, mirror, species lists; the species-list dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from birdcam.gui.widgets import ok_cancel_buttons

MAX_TOP_K = 6
"""The most labels the overlay names (the shown one and the runners-up)."""


class DetectionPanel(QWidget):
    """The controls; it only reports what the user changed (signals) and shows what it is told."""

    threshold_moved = Signal(float)
    """The user moved the slider (0-1)."""
    threshold_reset = Signal()
    """The user asked for the model's own threshold."""
    top_k_changed = Signal(int)
    species_requested = Signal()
    """The user wants to pick species lists."""

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
        self.species_label = QLabel()
        self.species_label.setWordWrap(True)
        species_button = QPushButton("Species list\u2026")
        species_button.setToolTip("Name only the species of your region, or never the ones that keep being misnamed")
        species_button.clicked.connect(self.species_requested)
        self.show_species(None, None)
        for widget in (
            self.threshold_slider,
            self.top_k_spin,
            self.smoothing_check,
            self.mirror_check,
            reset,
            species_button,
        ):
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
        species_row = QHBoxLayout()
        species_row.addWidget(self.species_label, 1)
        species_row.addWidget(species_button)
        self.column.addLayout(species_row)
        self.column.addStretch(1)
        self.setMinimumWidth(320)

    def show_species(self, allow: tuple[Path | None, int] | None, deny: tuple[Path | None, int] | None) -> None:
        """Says which lists are in force: (file, how many names) each, or None."""
        parts = [
            f"{verb} {path.name} ({count} names)"
            for verb, entry in (("only", allow), ("never", deny))
            if entry is not None
            for path, count in (entry,)
            if path is not None
        ]
        self.species_label.setText("Species: " + ("; ".join(parts) if parts else "all the model knows"))

    def show_threshold(self, threshold: float) -> None:
        """Shows the threshold in use without reporting it back as a user's move."""
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(threshold * 100))
        self.threshold_slider.blockSignals(False)
        self.threshold_label.setText(f"{threshold:.2f}")


class SpeciesListDialog(QDialog):
    """Picks an allow list and a deny list (text files, one species a line); empty fields mean no list."""

    def __init__(self, allow: Path | None, deny: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Species lists")
        hint = QLabel(
            "One scientific or common name a line; # starts a comment. The allow list names only its "
            "species (e.g. the birds of your region); the deny list never names its species (e.g. one "
            "that keeps being named wrongly)."
        )
        hint.setWordWrap(True)
        form = QFormLayout()
        self._fields = {}
        for key, title, path in (("allow", "Only these species", allow), ("deny", "Never these species", deny)):
            field = QLineEdit(str(path) if path else "")
            field.setPlaceholderText("none")
            field.setClearButtonEnabled(True)
            browse = QPushButton("Browse\u2026")
            browse.clicked.connect(lambda _=False, f=field, t=title: self._browse(f, t))
            row = QHBoxLayout()
            row.addWidget(field, 1)
            row.addWidget(browse)
            form.addRow(title, row)
            self._fields[key] = field
        buttons = ok_cancel_buttons(self)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def files(self) -> tuple[Path | None, Path | None]:
        """(allow file, deny file), None where the field is empty."""

        def path(key: str) -> Path | None:
            text = self._fields[key].text().strip()
            return Path(text).expanduser() if text else None

        return path("allow"), path("deny")

    def _browse(self, field: QLineEdit, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, field.text(), "Species lists (*.txt);;All files (*)")
        if path:
            field.setText(path)
