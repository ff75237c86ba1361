"""Behind a company proxy that inspects TLS: a real forward proxy, a real TLS hub, a test CA.

- The proxy is proxy.py (PyPI `proxy.py`), a real forward proxy, on 127.0.0.1; Enclave finds
  it through `HTTPS_PROXY`, as it would any proxy set for the computer, and every byte goes
  through its CONNECT tunnel (its access log is read back).
- The hub is tests/fakehub.py speaking HTTPS with a certificate from a CA made for this test
  (trustme). That CA is trusted only by the trust store Enclave uses: the operating system's.
  Here, on Linux, that is OpenSSL's default locations, and the test adds its CA there the way
  OpenSSL lets a user do it, `SSL_CERT_FILE`. On a real company computer IT puts the company CA
  in the OS store itself (Windows' certificate store, a macOS keychain, /etc/ssl/certs through
  update-ca-certificates); truststore and OpenSSL then read it from there, and nothing is set.
  certifi's bundle, which Python clients often use instead, does not hold it: the control
  below proves the same request fails with it.
- Without the CA, the download says in plain words that the certificate is not trusted, and
  names the proxy; with the proxy gone, the sentence names the proxy that cannot be reached.

The figures in README ("Proxies and company certificates") come from these tests.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import hub
from app.core.downloads import download_model
from app.core.net.transport import reset_client
from app.core.settings import Settings
from tests.fakehub import FakeHub
from tests.unit.conftest import MemoryKeyring

trustme = pytest.importorskip("trustme")

REPO = "acme/tiny-GGUF"
NAME = "tiny-Q4_K_M.gguf"
DATA = b"GGUF" + bytes(range(256)) * 64


@pytest.fixture
def test_ca(tmp_path: Path) -> tuple[object, Path]:
    ca = trustme.CA(organization_name="Enclave test company CA")
    pem = tmp_path / "company-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ca, pem


@pytest.fixture
def tls_hub(
    test_ca: tuple[object, Path], memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeHub]:
    ca, _pem = test_ca
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)  # type: ignore[attr-defined]
    fake = FakeHub(tls=context).start()
    fake.add_repo(REPO)
    fake.add_file(REPO, NAME, DATA)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield fake
    finally:
        fake.stop()


class ForwardProxy:
    def __init__(self, process: subprocess.Popen[str], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def tunnels(self, wait: float = 5.0) -> list[str]:
        """The CONNECT lines of its access log. proxy.py writes a line when a tunnel closes, so
        the client's kept-alive connections are closed first."""
        reset_client()
        deadline = time.monotonic() + wait
        while True:
            text = self.log.read_text(errors="replace")
            lines = [line for line in text.splitlines() if "CONNECT" in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@pytest.fixture
def forward_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    port_file, log = tmp_path / "proxy.port", tmp_path / "proxy.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
             "--port-file", str(port_file), "--num-acceptors", "1", "--num-workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "proxy.py did not start"
            time.sleep(0.05)
        proxy = ForwardProxy(process, int(port_file.read_text()), log)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        reset_client()  # the client reads the proxy settings when it is made
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        monkeypatch.undo()
        reset_client()  # later tests get a client without this proxy


def _trust(pem: Path | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if pem is None:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    reset_client()  # the TLS context is made with the client


def _download(models: Path) -> Path:
    settings = Settings(models_dir=str(models))
    return download_model(REPO, NAME, models_dir=models, settings=settings, max_failures=1)


def test_download_through_the_proxy_with_the_company_ca_succeeds(
    tls_hub: FakeHub,
    forward_proxy: ForwardProxy,
    test_ca: tuple[object, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _trust(test_ca[1], monkeypatch)
    assert [m.repo_id for m in hub.search_models("tiny")] == [REPO]
    path = _download(tmp_path / "models")
    assert path.read_bytes() == DATA
    port = tls_hub.url.rsplit(":", 1)[1]
    tunnels = forward_proxy.tunnels()
    assert tunnels and all(f"CONNECT 127.0.0.1:{port}" in line for line in tunnels), tunnels
    assert any(p.startswith("/cdn/") for _m, p, _h in tls_hub.requests)  # the bytes came too


def test_without_the_company_ca_the_sentence_names_the_certificate_and_the_proxy(
    tls_hub: FakeHub, forward_proxy: ForwardProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(None, monkeypatch)
    start = time.monotonic()
    with pytest.raises(hub.CertificateError) as caught:
        _download(tmp_path / "models")
    assert time.monotonic() - start < 10  # a certificate does not fix itself: no long retries
    text = str(caught.value)
    assert forward_proxy.url in text and "127.0.0.1" in text
    assert "security certificate" in text and "authority this computer does not trust" in text
    assert "certificate store" in text and "Traceback" not in text and "SSL" not in text
    assert not (tmp_path / "models" / REPO / NAME).exists()
    with pytest.raises(hub.CertificateError):
        hub.search_models("tiny")
    assert forward_proxy.tunnels()  # it did go through the proxy


def test_certifi_alone_would_not_trust_the_company_ca(
    tls_hub: FakeHub, test_ca: tuple[object, Path]
) -> None:
    """The control: the CA is in the OS store only; a client on certifi's bundle refuses it."""
    certifi = pytest.importorskip("certifi")
    import httpx2

    certifi_only = ssl.create_default_context(cafile=certifi.where())
    with (
        httpx2.Client(verify=certifi_only, trust_env=False) as c,
        pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        c.get(f"{tls_hub.url}/api/models")
    with httpx2.Client(verify=ssl.create_default_context(cafile=str(test_ca[1])), trust_env=False) as c:
        assert c.get(f"{tls_hub.url}/api/models").status_code == 200


def test_a_proxy_that_is_not_there_is_named(
    tls_hub: FakeHub, test_ca: tuple[object, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: the proxy refuses
    try:
        dead = f"http://user:secret@127.0.0.1:{sock.getsockname()[1]}"
        monkeypatch.setenv("HTTPS_PROXY", dead)
        _trust(test_ca[1], monkeypatch)
        with pytest.raises(hub.ProxyError) as caught:
            hub.search_models("tiny")
        text = str(caught.value)
        assert f"127.0.0.1:{sock.getsockname()[1]}" in text and "proxy" in text
        assert "secret" not in text  # the proxy's password is never shown
        assert tls_hub.requests == []
    finally:
        sock.close()
        monkeypatch.undo()
        reset_client()


def test_no_proxy_sends_the_hub_around_the_proxy(
    tls_hub: FakeHub, forward_proxy: ForwardProxy, test_ca: tuple[object, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    _trust(test_ca[1], monkeypatch)
    assert [m.repo_id for m in hub.search_models("tiny")] == [REPO]
    assert forward_proxy.tunnels(wait=1.0) == []
    assert os.environ["HTTPS_PROXY"] == forward_proxy.url
