"""No egress, proved: the real app (its window offscreen, a chat with the real SmolLM2 model,
a folder of documents indexed with the bundled embedding model, a chat over them, searches,
download attempts) runs in a network namespace that has only loopback, and every connect()
of every process it starts is traced (strace -f, and a Python audit hook as a second witness).

Offline mode and a normal local chat give 0 attempts outside 127.0.0.0/8; what a user asks of
the hub goes only where Hugging Face is (here the fake hub, on loopback); and a deliberate
connect to 10.0.0.1 in the same harness is counted, so the proof can fail.

Needs `unshare` (util-linux) and `ip` (iproute2), and root or unprivileged user namespaces;
`strace` where ptrace is allowed. Skipped, with the reason, where they are not.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.privacy.egress_trace import TraceResult, run_traced, strace_works, why_unavailable

pytestmark = pytest.mark.e2e
DRIVER = Path(__file__).with_name("egress_driver.py")
REPO = Path(__file__).resolve().parents[2]

_reason = why_unavailable()
needs_namespace = pytest.mark.skipif(_reason is not None, reason=f"no egress proof here: {_reason}")


def run_scenario(scenario: str, model: Path, tmp_path: Path) -> tuple[TraceResult, dict[str, Any]]:
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        # The app's defaults, as a user has them: Hugging Face's real address, no token.
        if key not in ("HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")
    }
    env.update(
        ENCLAVE_HOME=str(home),
        HF_HOME=str(home / "hf-home"),
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(REPO),
        HOME=str(home),  # other apps' model folders the Library scans: none of the machine's
    )
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    result = run_traced(
        [sys.executable, str(DRIVER), scenario, str(model), str(tmp_path / "work")],
        env,
        tmp_path / "trace",
        timeout=400,
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, f"the driver said nothing (rc {result.returncode}):\n{result.stderr[-3000:]}"
    seen = json.loads(line[len("RESULT ") :])
    print(f"{scenario}: {result.summary()}; strace: {result.strace_used}; {seen.get('seconds')}")
    return result, seen


def assert_app_worked(seen: dict[str, Any]) -> None:
    assert "error" not in seen, seen.get("traceback", seen)
    assert seen["chat"]["status"] == "complete" and seen["chat"]["chars"] > 0
    assert seen["index"].get("added") == 4 and seen["index"]["vectors"] > 0, seen["index"]
    assert seen["documents_chat"]["status"] == "complete" and seen["documents_chat"]["sources"] > 0
    assert seen["conversation_search"] >= 1


@needs_namespace
def test_the_harness_counts_a_deliberate_connection(tmp_path: Path) -> None:
    result, seen = run_scenario("control", Path(os.devnull), tmp_path)
    outside = result.outside
    to_ten = [a for a in outside if a.address == "10.0.0.1"]
    if result.strace_used:
        # this process and its child, each seen by strace and by the audit hook
        assert len({a.pid for a in to_ten if a.syscall == "connect"}) == 2, outside
        assert any(a.port == 53 for a in outside), outside  # the name lookup's query
    assert len({a.pid for a in result.audit_attempts if a.address == "10.0.0.1"}) == 2
    assert result.lookups == ["huggingface.co"]
    assert seen["main"] and seen["child"]  # the connect failed: the namespace has no route


@needs_namespace
def test_a_local_chat_with_documents_makes_no_connection_outside_loopback(
    tmp_path: Path, instruct_model_path: Path
) -> None:
    result, seen = run_scenario("local", instruct_model_path, tmp_path)
    assert_app_worked(seen)
    assert result.outside == [], [str(a) for a in result.outside]
    assert result.lookups == []


@needs_namespace
def test_offline_mode_makes_no_connection_outside_loopback_even_when_asked(
    tmp_path: Path, instruct_model_path: Path
) -> None:
    result, seen = run_scenario("offline", instruct_model_path, tmp_path)
    assert_app_worked(seen)
    assert result.outside == [], [str(a) for a in result.outside]
    assert result.lookups == []
    # Everything that would have gone out was refused with the offline sentence, not tried.
    for name, outcome in seen["core_refused"].items():
        assert outcome.startswith("OfflineError"), (name, outcome)
    assert "done" not in seen["downloads"] and "downloading" not in seen["downloads"]


@needs_namespace
def test_what_the_user_asks_of_the_hub_goes_only_to_the_hub(
    tmp_path: Path, instruct_model_path: Path
) -> None:
    result, seen = run_scenario("hub", instruct_model_path, tmp_path)
    assert "error" not in seen, seen.get("traceback", seen)
    assert seen["search_results"] >= 1 and seen["hub_requests"] > 0
    assert [state for state, _ in seen["downloads"]] == ["done"], seen["downloads"]
    assert result.outside == [], [str(a) for a in result.outside]
    if result.strace_used:  # the app's own requests are seen by the trace (on loopback)
        assert result.summary().get("loopback", 0) > 0


def test_strace_lines_are_read_right() -> None:
    """The parser itself, on lines as strace 6 writes them (so a format change fails here)."""
    from tests.privacy.egress_trace import parse_strace

    text = "\n".join(
        [
            '101 connect(3, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("10.0.0.1")}, 16)'
            " = -1 ENETUNREACH (Network is unreachable)",
            '102 connect(5, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}'
            ", 16) = 0",
            "103 connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
            "inet_pton(AF_INET6,"
            ' "2600:1f18::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>',
            "104 connect(4, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), "
            "inet_pton(AF_INET6,"
            ' "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
            '105 connect(6, {sa_family=AF_UNIX, sun_path="/run/dbus/system_bus_socket"}, 110) = -1 ENOENT',
            '106 sendto(7, ""..., 20, 0, {sa_family=AF_INET, sin_port=htons(53), '
            'sin_addr=inet_addr("127.0.0.53")},'
            " 16) = 20",
            '107 connect(8, {sa_family=AF_UNSPEC, sa_data=""}, 16) = 0',
        ]
    )
    attempts = parse_strace(text)
    assert [a.pid for a in attempts if a.goes_out] == [101, 103, 106]
    assert [a.family for a in attempts] == [
        "AF_INET",
        "AF_INET",
        "AF_INET6",
        "AF_INET6",
        "AF_UNIX",
        "AF_INET",
    ]


def test_the_proof_runs_where_it_is_required() -> None:
    """ENCLAVE_REQUIRE_EGRESS_PROOF=1 (a machine that must prove it, e.g. a release runner):
    a missing namespace or strace fails instead of skipping."""
    if os.environ.get("ENCLAVE_REQUIRE_EGRESS_PROOF") != "1":
        pytest.skip("ENCLAVE_REQUIRE_EGRESS_PROOF is not set: the proof skips where it cannot run")
    assert why_unavailable() is None, why_unavailable()
    assert strace_works(), "strace cannot trace here (ptrace not allowed?)"
