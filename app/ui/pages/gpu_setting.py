"""Settings → Models → Graphics card: with two or more GPUs, "Automatic" (one GPU that holds
the model, else all of them sharing it; app/core/planner.py) or one GPU pinned. Hidden on a
computer with fewer than two, where there is nothing to choose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from app.core.hardware import HardwareInfo
from app.core.i18n import number, translate
from app.core.planner import GIB
from app.core.settings import SettingsStore
from app.ui.observe import observe

AUTOMATIC = -1


class GpuSection(QWidget):
    def __init__(self, store: SettingsStore, hardware: Callable[[], HardwareInfo | None]) -> None:
        super().__init__()
        self.store = store
        self._hardware = hardware
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(translate("gpu_setting", "Graphics card:"))
        self.combo = QComboBox()
        self.combo.setObjectName("gpuCombo")
        self.combo.setAccessibleName(translate("gpu_setting", "Graphics card the models run on"))
        self.combo.setToolTip(
            translate(
                "gpu_setting",
                "Automatic puts a model on the one graphics card that holds it, or shares it "
                "between all of them when none does. Applies the next time a model loads.",
            )
        )
        label.setBuddy(self.combo)
        layout.addWidget(label)
        layout.addWidget(self.combo)
        layout.addStretch(1)
        self.combo.currentIndexChanged.connect(self._chosen)
        self.refresh()
        observe(self.store.changed, self, self._on_store_changed)

    def _on_store_changed(self, names: set[str]) -> None:
        if "gpu" in names:
            self.refresh()

    def refresh(self) -> None:
        hardware = self._hardware()
        gpus = hardware.gpus if hardware is not None else ()
        self.setVisible(len(gpus) >= 2)
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(translate("gpu_setting", "Automatic"), AUTOMATIC)
        for gpu in gpus:
            free = translate("gpu_setting", "{name} ({free} GB free)").format(
                name=gpu.name, free=number(gpu.free_bytes / GIB, 1)
            )
            self.combo.addItem(free, gpu.index)
        chosen = self.combo.findData(self.store.current.gpu)
        self.combo.setCurrentIndex(chosen if chosen >= 0 else 0)
        self.combo.blockSignals(False)

    def _chosen(self, _index: int) -> None:
        value: Any = self.combo.currentData()
        self.store.update(gpu=int(value if value is not None else AUTOMATIC))
