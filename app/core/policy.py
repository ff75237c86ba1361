"""What the organisation (IT) has set, which the user cannot change.

This is the one place the rest of the app asks "is this allowed here?". Sources (Windows registry,
macOS managed preferences, /etc/enclave/policy.json, ENCLAVE_POLICY_FILE) are read by
`load_policy()`; `current_policy()` returns the policy in force for this process.

The network gate (app/core/net) reads `offline_only` and `allow_downloads` from here; the
Discover page, the loader, the API and the remote engine read the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    # None everywhere means "IT has not set this": the user's own setting decides.
    offline_only: bool | None = None
    allow_downloads: bool | None = None
    allowed_models: tuple[str, ...] | None = None
    models_folder: str | None = None
    allowed_servers: tuple[str, ...] | None = None
    allow_api: bool | None = None
    api_hosts: tuple[str, ...] | None = None
    default_model: str | None = None
    default_preset: str | None = None
    keep_history: bool | None = None
    # key -> where it came from (file path or registry key), for Settings and `enclave policy`
    sources: dict[str, str] = field(default_factory=dict)
    # plain sentences about a broken source (Enclave then applies the strictest reading)
    problems: tuple[str, ...] = ()

    @property
    def forces_offline(self) -> bool:
        return self.offline_only is True

    @property
    def forbids_downloads(self) -> bool:
        return self.offline_only is True or self.allow_downloads is False


_current: Policy | None = None


def current_policy() -> Policy:
    """The policy in force (loaded once per process; `reload_policy()` reads the sources again)."""
    global _current
    if _current is None:
        _current = load_policy()
    return _current


def reload_policy() -> Policy:
    global _current
    _current = load_policy()
    return _current


def load_policy() -> Policy:
    """Read every policy source. Filled in by the policy work (issue 13); none set yet."""
    return Policy()
