"""Run a command in a network namespace that has only loopback, and record every connection it
(and every process it starts) tries to open.

Two independent recorders watch the same run:

- `strace -f` on connect/sendto/sendmsg/sendmmsg: every process, native code included (the
  engine host, llama.cpp, Qt, a `curl` a library might start). Where ptrace is not allowed it
  is left out, and the result says so.
- a Python audit hook (`sys.addaudithook`, installed in every Python process of the run through
  a `sitecustomize` on PYTHONPATH): `socket.connect`, `socket.sendto` and `socket.getaddrinfo`
  with their addresses, and the name each lookup asked for.

An attempt "goes out" when it names an internet address outside 127.0.0.0/8 and ::1, or port
53 anywhere (a name lookup: the first step of any connection to a named host). AF_UNIX and
loopback are allowed; they are counted and reported.

    result = run_traced([sys.executable, "driver.py"], env, workdir)
    result.outside   # the attempts that would have left the computer
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SITECUSTOMIZE = """
import json as _json, os as _os, sys as _sys
_LOG = _os.environ.get("ENCLAVE_EGRESS_AUDIT")
def _enclave_egress_hook(event, args):
    if not _LOG or event not in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
        return
    try:
        if event == "socket.getaddrinfo":
            record = {"event": event, "host": str(args[0]), "port": str(args[1])}
        else:
            sock, address = args[0], args[-1]
            record = {"event": event, "family": int(sock.family), "address": repr(address)}
        record["pid"] = _os.getpid()
        with open(_LOG, "a", encoding="utf-8") as _f:
            _f.write(_json.dumps(record) + "\\n")
    except Exception:
        pass
_sys.addaudithook(_enclave_egress_hook)
"""

_FAMILY = re.compile(r"sa_family=(AF_\w+)")
_V4 = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_V6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_SYSCALL = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\(")


@dataclass(frozen=True)
class Attempt:
    pid: int
    syscall: str
    family: str
    address: str = ""
    port: int = 0

    @property
    def goes_out(self) -> bool:
        if self.family not in ("AF_INET", "AF_INET6") or not self.address:
            return False
        if self.port == 53:
            return True  # a name lookup, wherever the resolver is
        address = ipaddress.ip_address(self.address)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return not address.is_loopback

    def __str__(self) -> str:
        where = f" {self.address}:{self.port}" if self.address else ""
        return f"pid {self.pid} {self.syscall} {self.family}{where}"


def parse_strace(text: str) -> list[Attempt]:
    """The socket addresses named in an `strace -f` log (one line per call; an unfinished call
    carries its address on its first line)."""
    attempts: list[Attempt] = []
    for line in text.splitlines():
        family = _FAMILY.search(line)
        call = _SYSCALL.match(line)
        if family is None or call is None or family.group(1) == "AF_UNSPEC":
            continue  # AF_UNSPEC: a UDP socket dissolving its association, not a connection
        pid, syscall, fam = int(call.group(1)), call.group(2), family.group(1)
        if fam == "AF_INET" and (v4 := _V4.search(line)):
            attempts.append(Attempt(pid, syscall, fam, v4.group(2), int(v4.group(1))))
        elif fam == "AF_INET6" and (v6 := _V6.search(line)):
            attempts.append(Attempt(pid, syscall, fam, v6.group(2), int(v6.group(1))))
        else:
            attempts.append(Attempt(pid, syscall, fam))
    return attempts


def parse_audit(text: str) -> tuple[list[Attempt], list[str]]:
    """(attempts, names looked up) from the audit hook's log."""
    attempts: list[Attempt] = []
    lookups: list[str] = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record["event"] == "socket.getaddrinfo":
            host = record["host"]
            if host not in ("None", "", "localhost") and not _is_loopback_literal(host):
                lookups.append(host)
            continue
        family = {2: "AF_INET", 10: "AF_INET6", 1: "AF_UNIX"}.get(record["family"], str(record["family"]))
        address, port = _audit_address(record["address"])
        attempts.append(Attempt(record["pid"], record["event"], family, address, port))
    return attempts, lookups


def _is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _audit_address(text: str) -> tuple[str, int]:
    import ast

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return "", 0
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[1], int):
        host = str(value[0])
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host, value[1]  # a name: connect() resolves it itself
        return host, value[1]
    return "", 0


@dataclass
class TraceResult:
    returncode: int
    stdout: str
    stderr: str
    strace_used: bool
    attempts: list[Attempt] = field(default_factory=list)  # strace's, else the audit hook's
    audit_attempts: list[Attempt] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)  # names the Python code asked to resolve

    @property
    def outside(self) -> list[Attempt]:
        seen = self.attempts + (self.audit_attempts if self.strace_used else [])
        return [a for a in seen if a.goes_out or _audit_name(a)]

    def summary(self) -> dict[str, int]:
        kinds: Counter[str] = Counter()
        for attempt in self.attempts:
            if attempt.goes_out:
                kinds["outside loopback"] += 1
            elif attempt.family in ("AF_INET", "AF_INET6"):
                kinds["loopback"] += 1
            else:
                kinds[attempt.family] += 1
        kinds["lookups of a name"] = len(self.lookups)
        kinds["audit hook: outside loopback"] = sum(1 for a in self.audit_attempts if a.goes_out)
        return dict(kinds)


def _audit_name(attempt: Attempt) -> bool:
    """An audit record whose address is a host name, not a loopback one."""
    if attempt.family not in ("AF_INET", "AF_INET6") or not attempt.address:
        return False
    try:
        ipaddress.ip_address(attempt.address)
        return False
    except ValueError:
        return attempt.address != "localhost"


def why_unavailable() -> str | None:
    """None when a loopback-only network namespace can be made here, else the reason."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    probe = subprocess.run(
        [*_unshare(), "sh", "-c", "ip link set lo up"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"no network namespace here: {probe.stderr.strip() or probe.returncode}"
    return None


def strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=connect", "-o", os.devnull, "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def _unshare() -> list[str]:
    # As root a plain new network namespace; otherwise inside a user namespace, as its root.
    return ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]


def _strace_args(log: Path) -> list[str]:
    args = ["strace", "-f", "-qq", "-s", "0", "-e", "trace=connect,sendto,sendmsg,sendmmsg"]
    seccomp = subprocess.run(
        ["strace", "--seccomp-bpf", "-f", "-qq", "-e", "trace=connect", "-o", os.devnull, "true"],
        capture_output=True,
        check=False,
    )
    if seccomp.returncode == 0:
        args.insert(1, "--seccomp-bpf")  # only the traced calls stop: the app runs at full speed
    return [*args, "-o", str(log)]


def run_traced(command: list[str], env: dict[str, str], workdir: Path, timeout: float = 300) -> TraceResult:
    """Run `command` in a new network namespace with only loopback (up), traced; see above."""
    workdir.mkdir(parents=True, exist_ok=True)
    hook_dir = workdir / "audit-hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    audit_log = workdir / "audit.jsonl"
    audit_log.unlink(missing_ok=True)
    strace_log = workdir / "strace.log"
    strace_log.unlink(missing_ok=True)
    env = dict(env)
    env["ENCLAVE_EGRESS_AUDIT"] = str(audit_log)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook_dir), env.get("PYTHONPATH", "")) if p)
    use_strace = strace_works()
    traced = [*_strace_args(strace_log), *command] if use_strace else command
    script = 'ip link set lo up && exec "$@"'
    proc = subprocess.run(
        [*_unshare(), "sh", "-c", script, "sh", *traced],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    audit_attempts, lookups = parse_audit(audit_log.read_text(encoding="utf-8") if audit_log.exists() else "")
    attempts = parse_strace(strace_log.read_text(encoding="utf-8", errors="replace")) if use_strace else []
    return TraceResult(
        proc.returncode,
        proc.stdout,
        proc.stderr,
        use_strace,
        attempts if use_strace else list(audit_attempts),
        audit_attempts,
        lookups,
    )
