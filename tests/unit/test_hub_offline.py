"""No network at all: a search says so in plain words within ~2 s instead of retrying for ~23 s.

Real connections, no mocks of the network: HF_ENDPOINT points at a port on 127.0.0.1 that is
bound but not listening (so the kernel refuses the connection and no other process can take
the port meanwhile), or at a host name in the reserved `.invalid` domain, which never resolves.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from app.core import hub
from app.core.settings import Settings
from tests.fakehub import FakeHub
from tests.unit.conftest import MemoryKeyring

BOUND_S = 2.0
MESSAGE = "Enclave cannot reach Hugging Face. Check your internet connection, or turn on offline mode"


@pytest.fixture
def closed_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(params=["refused", "unresolvable"])
def dead_endpoint(
    request: pytest.FixtureRequest,
    closed_port: int,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    url = f"http://127.0.0.1:{closed_port}" if request.param == "refused" else "http://nonexistent.invalid"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # The bound is on waiting for the network, not on importing huggingface_hub the first time.
    import huggingface_hub.hf_api  # noqa: F401

    return url


def _timed_failure(call: Callable[[], Any]) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(hub.HubError) as caught:
        call()
    return caught.value, time.monotonic() - start


def test_search_pager_fails_fast_without_network(dead_endpoint: str) -> None:
    pager = hub.SearchPager("qwen", settings=Settings())  # what the Discover page runs
    error, elapsed = _timed_failure(pager.next_page)
    assert elapsed < BOUND_S, f"{dead_endpoint}: {elapsed:.1f} s"
    assert isinstance(error, hub.UnreachableError) and isinstance(error, hub.NetworkError)
    assert str(error).startswith(MESSAGE)
    assert "Errno" not in str(error) and "ConnectError" not in str(error)


def test_cli_search_fails_fast_without_network(
    dead_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import run_cli

    start = time.monotonic()
    code = run_cli(["search", "qwen"])
    elapsed = time.monotonic() - start
    assert code != 0
    assert elapsed < BOUND_S, f"{dead_endpoint}: {elapsed:.1f} s"
    assert MESSAGE in capsys.readouterr().err


def test_model_page_listing_fails_fast_without_network(dead_endpoint: str) -> None:
    error, elapsed = _timed_failure(lambda: hub.model_files("acme/tiny-GGUF", settings=Settings()))
    assert elapsed < BOUND_S and isinstance(error, hub.UnreachableError)


def test_model_card_fails_fast_without_network(dead_endpoint: str) -> None:
    error, elapsed = _timed_failure(lambda: hub.model_card("acme/tiny-GGUF", settings=Settings()))
    assert elapsed < BOUND_S, f"{dead_endpoint}: {elapsed:.1f} s"
    assert isinstance(error, hub.UnreachableError)


def test_a_card_seen_before_is_shown_without_network(
    fake_hub: FakeHub, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo("acme/card-GGUF", card="# Card\nGood model.")
    assert "Good model." in hub.model_card("acme/card-GGUF")  # online: fetched and cached
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    start = time.monotonic()
    assert "Good model." in hub.model_card("acme/card-GGUF")  # offline: the cached copy
    assert time.monotonic() - start < BOUND_S


def test_search_still_retries_a_server_error(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 503 is worth another try: huggingface_hub's backoff still runs (its sleep recorded)."""
    from huggingface_hub.utils import _http

    fake_hub.add_repo("acme/tiny-GGUF")
    fake_hub.add_file("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", b"GGUF" + bytes(60))
    fake_hub.faults.status["/api/models"] = 503
    fake_hub.faults.status_times["/api/models"] = 1
    slept: list[float] = []
    monkeypatch.setattr(_http, "time", SimpleNamespace(sleep=slept.append))  # its only use
    results = hub.search_models("tiny")
    assert [m.repo_id for m in results] == ["acme/tiny-GGUF"]
    assert slept == [1]
    assert len([p for _m, p, _h in fake_hub.requests if p.startswith("/api/models?")]) == 2


def test_tls_failure_names_the_certificate_problem() -> None:
    """A refused certificate is not "no network": the sentence says what to ask IT for (the real
    handshake, through a proxy, is in tests/unit/test_net_proxy.py)."""
    import httpx2

    tls = httpx2.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error = hub.translate_error(tls)
    assert isinstance(error, hub.CertificateError) and isinstance(error, hub.NetworkError)
    assert "security certificate" in str(error) and "certificate store" in str(error)
