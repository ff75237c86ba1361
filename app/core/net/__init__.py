"""Enclave's network: one gate every outgoing connection goes through, and how it connects.

    gate.py       NetworkGate: may Enclave connect now, for what (offline mode, HF_HUB_OFFLINE,
                  the IT policy); HF_HUB_OFFLINE for the whole process; `changed` event
    transport.py  huggingface_hub's HTTP client: asks the gate per request, system proxy,
                  the OS certificate store (truststore), telemetry and implicit token off
    tokens.py     which Hugging Face token goes with a request (the user's own, only on 401/403)
    proxy.py      which proxy a request uses, for error sentences
    errors.py     OfflineError and the other network problems, in plain words

Nothing here imports Qt.
"""

from __future__ import annotations

from app.core.net.errors import (
    CertificateError,
    DownloadsOffError,
    EnvironmentOfflineError,
    HubError,
    NetworkError,
    OfflineError,
    PolicyOfflineError,
    ProxyError,
    UnreachableError,
)
from app.core.net.gate import PURPOSES, NetworkGate, Purpose, gate

__all__ = [
    "PURPOSES",
    "CertificateError",
    "DownloadsOffError",
    "EnvironmentOfflineError",
    "HubError",
    "NetworkError",
    "NetworkGate",
    "OfflineError",
    "PolicyOfflineError",
    "ProxyError",
    "Purpose",
    "UnreachableError",
    "gate",
]
