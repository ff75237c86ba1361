"""Privacy at the mechanism: telemetry is off for the whole process from its first line, and the
app's log is owner-only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def test_telemetry_is_off_for_the_whole_process_and_its_children() -> None:
    code = (
        "import os; os.environ.pop('HF_HUB_DISABLE_TELEMETRY', None)\n"
        "import app.__main__\n"
        "from huggingface_hub import constants\n"
        "import subprocess, sys\n"
        "child = subprocess.run([sys.executable, '-c', "
        "'import os; print(os.environ.get(\"HF_HUB_DISABLE_TELEMETRY\"))'], capture_output=True, text=True)\n"
        "print(constants.HF_HUB_DISABLE_TELEMETRY, child.stdout.strip())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_TELEMETRY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "1"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_the_log_is_owner_only_also_when_an_old_one_was_not(enclave_home: Path) -> None:
    import logging

    from app.core import paths
    from app.ui.launch import _setup_logging

    old = paths.log_dir() / "enclave.log"
    old.write_text("from an older version\n")
    old.chmod(0o644)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        _setup_logging()
        assert stat.S_IMODE(old.stat().st_mode) == 0o600
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
