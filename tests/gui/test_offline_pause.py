"""Going offline in Settings while a model downloads: the download waits, and goes on after.

The real window, the real download queue and huggingface_hub against the fake hub (throttled,
so the download is still running when the user clicks).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from app.core.settings import load_settings
from tests.fakehub import FakeHub
from tests.gui import conftest_models

fake_hardware = conftest_models.fake_hardware
fake_hub = conftest_models.fake_hub
memory_keyring = conftest_models.memory_keyring
models_window = conftest_models.models_window

REPO = "acme/Tiny-Chat-GGUF"
NAME = "tiny-chat-Q4_K_M.gguf"
TIMEOUT = 20_000


def test_offline_mid_download_waits_and_online_finishes_it(
    qtbot: Any, fake_hub: FakeHub, models_window: Any
) -> None:
    data = b"GGUF" + os.urandom(2_000_000)
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, NAME, data)
    fake_hub.faults.throttle_bps = 1_000_000  # two seconds for the whole file
    window = models_window()
    controller = window.models_area.downloads
    job = controller.add(REPO, NAME)
    qtbot.waitUntil(lambda: controller.manager.get(job.id).downloaded > 100_000, timeout=TIMEOUT)

    window.show_page("settings")
    offline = window.models_area.settings.offline_check
    offline.click()  # the user goes offline
    assert load_settings().offline_mode
    qtbot.waitUntil(lambda: controller.manager.get(job.id).state == "queued", timeout=5_000)
    qtbot.waitUntil(lambda: not controller.running, timeout=5_000)
    waiting = controller.manager.get(job.id)
    assert waiting.error == "" and 0 < waiting.downloaded < len(data)  # kept, not failed
    row = window.models_area.discover.downloads_panel.rows[job.id]
    qtbot.waitUntil(lambda: "offline mode is on" in row.status_label.text(), timeout=5_000)
    asked = len(fake_hub.requests)
    qtbot.wait(500)
    assert len(fake_hub.requests) == asked  # nothing goes out while offline

    offline.click()  # back online: it goes on by itself
    qtbot.waitUntil(lambda: controller.manager.get(job.id).state == "done", timeout=TIMEOUT)
    done = controller.manager.get(job.id)
    assert hashlib.sha256(Path(done.path).read_bytes()).digest() == hashlib.sha256(data).digest()
