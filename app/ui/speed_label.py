"""Predicted answer speed in plain words, for every model list (Discover, model page, Library).

"about 12 words a second · first word after 4 s": words are tokens x 0.75 (the tooltip says
so), the first-word wait is for a typical question about documents (a 2,000-token prompt). The
numbers come from this machine's speed profile (app.core.speed), measured once in a child
process in the background (about 10 s) and kept; pages ask for it with `with_machine_profile`
and compute predictions on workers through `SpeedColumn`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QPushButton, QTreeWidget, QTreeWidgetItem

from app.core.cancel import CancelToken
from app.core.i18n import number, translate, translate_noop
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    from app.core.fit import Fit
    from app.core.speed.predict import Prediction
    from app.core.speed.profile import MachineProfile

log = logging.getLogger("enclave.ui.speed")

HEADER = translate_noop("speed_label", "Speed here")
MEASURING_TEXT = translate_noop("speed_label", "Measuring…")
SLOW_COLOR = "#8a5a00"

ProfileCallback = Callable[["MachineProfile | None"], None]


class _ProfileState:
    profile: MachineProfile | None = None
    waiting: list[ProfileCallback] = []
    running = False


def with_machine_profile(callback: ProfileCallback, *, again: bool = False) -> None:
    """Call back (on the GUI thread) with this machine's speed profile, or None if it could not
    be measured. The kept one is read on a worker; without one (or with `again`), the benchmark
    runs in a child process first. Several askers share one measurement."""
    state = _ProfileState
    if state.profile is not None and not again:
        callback(state.profile)
        return
    state.waiting.append(callback)
    if state.running:
        return
    state.running = True

    def work(_progress: ProgressFn, _cancel: CancelToken) -> Any:
        from app.core.fit import detect_hardware_safely
        from app.core.speed import profile_cache

        if not again:
            profile = profile_cache.load_profile(None if profile_cache.pinned() else detect_hardware_safely())
            if profile is not None:
                profile_cache.remember(profile)
                return profile
        log.info("measuring this computer's speed (child process)")
        return profile_cache.measure_in_child()

    def finish(profile: MachineProfile | None) -> None:
        state.running = False
        if profile is not None:
            state.profile = profile
        waiting, state.waiting = state.waiting, []
        for waiter in waiting:
            waiter(profile)

    def failed(exc: Exception) -> None:
        log.warning("speed measurement failed: %s", exc)
        finish(None)

    run_task(work, name="machine-speed", on_result=finish, on_error=failed)


def forget_profile() -> None:
    """Tests: the next ask reads the profile again."""
    _ProfileState.profile = None


# --- words ------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    if value < 1:
        return translate("speed_label", "under a second")
    if value < 90:
        return translate("speed_label", "{seconds} s").format(seconds=number(value))
    return translate("speed_label", "{minutes} min").format(minutes=number(value / 60))


def speed_text(prediction: Prediction | None) -> str:
    """ "about 12 words a second · first word after 4 s" (empty when unknown)."""
    if prediction is None:
        return ""
    words = prediction.words_per_s
    if words < 1:
        rate = translate("speed_label", "less than a word a second")
    elif words < 100:
        count = round(words)
        rate = translate("speed_label", "about %n words a second", None, count)
    else:
        count = int(round(words, -1))
        rate = translate("speed_label", "about %n words a second", None, count)
    return translate("speed_label", "{speed} · first word after {time}").format(
        speed=rate, time=_seconds(prediction.first_word_s)
    )


def speed_tooltip(prediction: Prediction | None) -> str:
    if prediction is None:
        return translate("speed_label", "This computer's speed is being measured (a few seconds, once).")
    from app.core.speed.predict import FAST_FIRST_WORD_S, FAST_TOKENS_PER_S

    if prediction.exact:
        basis = translate("speed_label", "Predicted for this computer, from this file's own description:")
    else:
        basis = translate(
            "speed_label",
            "Predicted for this computer, from the file's size only (an estimate; the real figure "
            "comes after download):",
        )
    lines = [
        basis,
        translate(
            "speed_label",
            "writes about {tokens_per_second} tokens a second, which is about "
            "{words_per_second} words a second (words ≈ tokens × 0.75: a model writes "
            "in pieces of words called tokens).",
        ).format(
            tokens_per_second=number(prediction.decode_tokens_per_s, 1),
            words_per_second=number(prediction.words_per_s, 1),
        ),
        translate(
            "speed_label",
            "For a question about your documents (about {tokens} tokens to "
            "read first), the first word comes after about {time}.",
        ).format(tokens=number(prediction.prompt_tokens), time=_seconds(prediction.first_word_s)),
    ]
    if not prediction.fast_enough:
        lines.append(
            translate(
                "speed_label",
                "That is slow here (comfortable: at least {tokens_per_second} tokens a second "
                "and the first word within {seconds} s).",
            ).format(tokens_per_second=number(FAST_TOKENS_PER_S), seconds=number(FAST_FIRST_WORD_S))
        )
    return "\n".join(lines)


def show_prediction(item: QTreeWidgetItem, column: int, prediction: Prediction | None) -> None:
    item.setText(column, speed_text(prediction))
    item.setToolTip(column, speed_tooltip(prediction))
    if prediction is not None and not prediction.fast_enough:
        item.setForeground(column, QBrush(QColor(SLOW_COLOR)))


# --- a column of predictions ----------------------------------------------------------------


class SpeedColumn:
    """Fills one column of a tree with predictions computed on workers.

    `reset()` when the tree is cleared: answers for rows that are gone are dropped.
    """

    def __init__(self, tree: QTreeWidget, column: int) -> None:
        self.tree = tree
        self.column = column
        self.generation = 0

    def reset(self) -> None:
        self.generation += 1

    def for_size(
        self, item: QTreeWidgetItem, size: int, bits: float, fit: Fit | None, quant: str | None = None
    ) -> None:
        """A file not downloaded yet: its size and quantization (bits per weight; its name, for
        the tensor types whose prompt speed the benchmark measured)."""
        layers = (fit.n_gpu_layers, fit.total_layers) if fit is not None else (0, 0)
        if fit is not None and not fit.fits:
            self._blank(item)
            return

        def compute(profile: MachineProfile) -> Prediction:
            from app.core.speed.predict import predict_size

            return predict_size(size, bits, profile, *layers, quant=quant)

        self._start(item, compute)

    def for_path(self, item: QTreeWidgetItem, path: Path, fit: Fit | None) -> None:
        """A file on disk: its GGUF facts."""
        layers = (fit.n_gpu_layers, fit.total_layers) if fit is not None else (0, 0)
        if fit is not None and not fit.fits:
            self._blank(item)
            return

        def compute(profile: MachineProfile) -> Prediction | None:
            from app.core.speed.predict import predict_path

            return predict_path(path, profile, *layers)

        self._start(item, compute)

    def _blank(self, item: QTreeWidgetItem) -> None:
        item.setText(self.column, "—")
        item.setToolTip(
            self.column, translate("speed_label", "Too large for this computer, so no speed to predict.")
        )

    def _start(self, item: QTreeWidgetItem, compute: Callable[[MachineProfile], Any]) -> None:
        generation = self.generation
        if not item.text(self.column):
            item.setText(self.column, translate("speed_label", MEASURING_TEXT))
            item.setToolTip(self.column, speed_tooltip(None))

        def got_profile(profile: MachineProfile | None) -> None:
            if generation != self.generation:
                return
            if profile is None:
                item.setText(self.column, translate("speed_label", "Unknown"))
                item.setToolTip(
                    self.column, translate("speed_label", "This computer's speed could not be measured.")
                )
                return

            def work(_progress: ProgressFn, _cancel: CancelToken) -> Any:
                return compute(profile)

            run_task(work, name="predict-speed", on_result=lambda pred: self._show(generation, item, pred))

        with_machine_profile(got_profile)

    def _show(self, generation: int, item: QTreeWidgetItem, prediction: Prediction | None) -> None:
        if generation != self.generation:
            return
        try:
            if prediction is None:  # an embedding model, or a file that cannot be read
                item.setText(self.column, "—")
                item.setToolTip(
                    self.column,
                    translate("speed_label", "Enclave cannot predict a writing speed for this file."),
                )
            else:
                show_prediction(item, self.column, prediction)
        except RuntimeError:  # the row was deleted with its tree
            pass


MEASURE_AGAIN_TEXT = translate_noop("speed_label", "Measure speed again")


def measure_again_button(on_measured: Callable[[], None]) -> QPushButton:
    """A button that runs the machine benchmark again (e.g. after closing other programs) and
    then calls `on_measured` so the page can show the new speeds."""
    button = QPushButton(translate("speed_label", MEASURE_AGAIN_TEXT))
    button.setObjectName("measureSpeedButton")
    button.setToolTip(
        translate(
            "speed_label",
            "Measure this computer's speed again (about 10 seconds), for example after closing "
            "other programs. The speeds shown and the recommendation follow.",
        )
    )

    def done(_profile: MachineProfile | None) -> None:
        button.setEnabled(True)
        button.setText(translate("speed_label", MEASURE_AGAIN_TEXT))
        on_measured()

    def clicked() -> None:
        button.setEnabled(False)
        button.setText(translate("speed_label", MEASURING_TEXT))
        with_machine_profile(done, again=True)

    button.clicked.connect(clicked)
    return button
