"""What each policy key allows, asked by the loader, Discover, the Library, the remote engine and
the local API (window and CLI alike), and the one sentence per key that Settings and
`enclave policy` show. The policy itself comes from app/core/policy.py.

Models are named `owner/repo/file.gguf` when Enclave knows where a file comes from (its models
folder layout, the organisation's folder, the Hugging Face cache), else by the file name alone.
A pattern of `allowed_models` (fnmatch: `*`, `?`, `[abc]`; letter case ignored) allows a model
when it matches the full name, the file name, or the `owner/repo` (a whole repository).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from app.core.i18n import translate
from app.core.policy import STRICTEST_SOURCE, Policy, current_policy

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _policy(policy: Policy | None) -> Policy:
    return policy if policy is not None else current_policy()


def _match(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name.casefold(), pattern.strip().casefold())


# -- models ---------------------------------------------------------------------------------
def organisation_models_folder(policy: Policy | None = None) -> Path | None:
    folder = _policy(policy).models_folder
    return Path(os.path.expandvars(folder)).expanduser() if folder else None


def default_roots() -> list[Path]:
    """The folders laid out `<owner>/<repo>/<file>`: the organisation's, then the user's."""
    from app.core.settings import load_settings

    roots = [organisation_models_folder()]
    roots.append(load_settings().resolved_models_dir())
    return [root for root in roots if root is not None]


def repo_id_for_path(path: Path, roots: Iterable[Path]) -> str | None:
    """owner/repo for a file in a models-folder layout or the Hugging Face cache, else None."""
    for part in path.parts:
        if part.startswith("models--") and part.count("--") >= 2:
            return part[len("models--") :].replace("--", "/", 1)
    for root in roots:
        try:
            relative = path.resolve().relative_to(root.resolve())
        except (ValueError, OSError):
            continue
        if len(relative.parts) >= 3:
            return "/".join(relative.parts[:2])
    return None


def model_allowed(filename: str, repo_id: str | None = None, policy: Policy | None = None) -> bool:
    patterns = _policy(policy).allowed_models
    if patterns is None:
        return True
    names = [Path(filename).name]
    if repo_id:
        names += [f"{repo_id}/{Path(filename).name}", repo_id]
    return any(_match(name, pattern) for pattern in patterns for name in names)


def repo_may_be_allowed(repo_id: str, policy: Policy | None = None) -> bool:
    """Whether some file of this repository could be allowed (Discover hides the others).
    Patterns that name only a file may match a file of any repository."""
    patterns = _policy(policy).allowed_models
    if patterns is None:
        return True
    owner, _, repo = repo_id.partition("/")
    for pattern in patterns:
        parts = pattern.strip().split("/")
        if len(parts) == 1 or _match(repo_id, pattern):
            return True
        if len(parts) == 2 and _match(owner, parts[0]) and "*" in parts[1]:
            return True
        if len(parts) >= 3 and _match(owner, parts[0]) and _match(repo, parts[1]):
            return True
    return False


class _HasFilename(Protocol):
    @property
    def filename(self) -> str: ...


class _HasRepoId(Protocol):
    @property
    def repo_id(self) -> str: ...


F = TypeVar("F", bound=_HasFilename)
R = TypeVar("R", bound=_HasRepoId)


def allowed_files(repo_id: str, files: Iterable[F], policy: Policy | None = None) -> list[F]:
    """A repository's files the policy allows (Discover and `enclave files` show only these)."""
    return [f for f in files if model_allowed(f.filename, repo_id, policy)]


def allowed_repos(models: Iterable[R], policy: Policy | None = None) -> list[R]:
    """Search results that may hold an allowed file (the others are not shown)."""
    return [m for m in models if repo_may_be_allowed(m.repo_id, policy)]


def model_refusal(
    path: Path | str,
    repo_id: str | None = None,
    policy: Policy | None = None,
    roots: Sequence[Path] | None = None,
) -> str | None:
    """None when this model may be used, else the sentence that says why not."""
    policy = _policy(policy)
    if policy.allowed_models is None:
        return None
    path = Path(path)
    repo_id = repo_id or repo_id_for_path(path, default_roots() if roots is None else roots)
    if model_allowed(path.name, repo_id, policy):
        return None
    shown = f"{repo_id}/{path.name}" if repo_id else path.name
    return translate(
        "policy_rules",
        "Your organisation does not allow the model {model} on this computer. Models allowed: "
        "{allowed}. Ask your IT department if you need it.",
    ).format(model=shown, allowed=_listed(policy.allowed_models))


def download_refusal(
    models_dir: Path, repo_id: str, filename: str, policy: Policy | None = None
) -> str | None:
    """Why this download may not happen (a model the policy refuses, or a target inside the
    organisation's read-only folder), else None. Whether downloads are on at all is the
    network gate's question (app/core/net)."""
    policy = _policy(policy)
    if not model_allowed(filename, repo_id, policy):
        return translate(
            "policy_rules",
            "Your organisation does not allow the model {model}, so it cannot be downloaded.",
        ).format(model=f"{repo_id}/{Path(filename).name}")
    return shared_folder_refusal(models_dir, policy)


def shared_folder_refusal(folder: Path, policy: Policy | None = None) -> str | None:
    """Why Enclave may not write into this folder (it is in the organisation's), else None."""
    shared = organisation_models_folder(policy)
    if shared is not None and _inside(folder, shared):
        return translate(
            "policy_rules",
            "{folder} is your organisation's shared models folder: Enclave only reads it. "
            "Choose another models folder in Settings for your own downloads.",
        ).format(folder=folder)
    return None


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.expanduser().resolve().is_relative_to(folder.expanduser().resolve())
    except OSError:
        return False


def find_default_model(policy: Policy | None = None, roots: Sequence[Path] | None = None) -> Path | None:
    """The file `default_model` names: a path, or `owner/repo/file.gguf` in a models folder."""
    name = _policy(policy).default_model
    if not name:
        return None
    direct = Path(name).expanduser()
    if direct.is_absolute():
        return direct if direct.is_file() else None
    for root in default_roots() if roots is None else roots:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


# -- company servers (remote engine) --------------------------------------------------------
def _address_names(url: str) -> list[str]:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = (parts.hostname or "").casefold()
    names = [url.rstrip("/"), host]
    if parts.port:
        names.append(f"{host}:{parts.port}")
    if parts.scheme and host:
        names.append(f"{parts.scheme}://{parts.netloc.casefold()}")
    return names


def server_allowed(url: str, policy: Policy | None = None) -> bool:
    """An entry allows a server by its address (`https://llm.corp:8000`), host name
    (`llm.corp`) or a pattern (`*.corp.example`); a full URL entry also allows paths under it."""
    allowed = _policy(policy).allowed_servers
    if allowed is None:
        return True
    address, *names = _address_names(url.strip())
    for entry in allowed:
        entry = entry.strip().rstrip("/")
        # Patterns match the host (and scheme://host:port), never the whole URL: "*" would
        # otherwise let https://elsewhere.example/x.corp.example through.
        if any(_match(name, entry) for name in names):
            return True
        if "://" in entry and (address.casefold() + "/").startswith(entry.casefold() + "/"):
            return True
    return False


def server_refusal(url: str, policy: Policy | None = None) -> str | None:
    policy = _policy(policy)
    if server_allowed(url, policy):
        return None
    allowed = policy.allowed_servers or ()
    if not allowed:
        return translate(
            "policy_rules",
            "Your organisation does not allow answers from a server: models run on this computer only.",
        )
    return translate(
        "policy_rules", "Your organisation does not allow the server {server}. Servers allowed: {allowed}."
    ).format(server=url, allowed=", ".join(allowed))


# -- the local API --------------------------------------------------------------------------
def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_host_allowed(host: str, policy: Policy | None = None) -> bool:
    """`api_hosts` lists the addresses the API may listen on; "127.0.0.1" (or "localhost")
    stands for this computer only, "0.0.0.0" for the whole network."""
    hosts = _policy(policy).api_hosts
    if hosts is None:
        return True
    host = (host or "127.0.0.1").strip().casefold()
    wanted = {h.strip().casefold() for h in hosts}
    if _is_loopback(host):
        return bool(wanted & LOOPBACK_HOSTS) or any(_is_loopback(h) for h in wanted)
    return host in wanted


def api_refusal(host: str, policy: Policy | None = None) -> str | None:
    policy = _policy(policy)
    if policy.forbids_api:
        return translate(
            "policy_rules",
            "Your organisation has turned off the local API: other programs cannot use Enclave's model.",
        )
    if not api_host_allowed(host, policy):
        return translate(
            "policy_rules",
            "Your organisation does not allow the API on {address}. Addresses allowed: {allowed}.",
        ).format(address=host, allowed=_listed(policy.api_hosts or ()))
    return None


# -- one sentence per key (Settings and `enclave policy`) -----------------------------------
@dataclass(frozen=True)
class Explained:
    key: str
    value: str  # the value as a person reads it
    sentence: str  # what it means for the user
    source: str  # where it came from


def _yes_no(value: bool) -> str:
    return translate("policy_rules", "yes") if value else translate("policy_rules", "no")


def _listed(items: tuple[str, ...]) -> str:
    return ", ".join(items) if items else translate("policy_rules", "none")


def _sentence(policy: Policy, key: str) -> tuple[str, str]:
    value = getattr(policy, key)
    if key == "offline_only":
        return _yes_no(value), (
            translate("policy_rules", "Enclave never connects to the internet: no search and no downloads.")
            if value
            else translate("policy_rules", "Enclave may connect to the internet for search and downloads.")
        )
    if key == "allow_downloads":
        return _yes_no(value), (
            translate("policy_rules", "Models can be downloaded.")
            if value
            else translate(
                "policy_rules", "Downloading models is turned off: use the models already on this computer."
            )
        )
    if key == "allowed_models":
        return _listed(value), (
            translate(
                "policy_rules", "Only these models can be found and opened; others are hidden or refused."
            )
            if value
            else translate("policy_rules", "No model is allowed on this computer.")
        )
    if key == "models_folder":
        return value, translate(
            "policy_rules", "Models come from this folder too. Enclave only reads it, never writes there."
        )
    if key == "allowed_servers":
        return _listed(value), (
            translate("policy_rules", "Only these company servers can answer instead of this computer.")
            if value
            else translate("policy_rules", "Answers come from this computer only, never from a server.")
        )
    if key == "allow_api":
        return _yes_no(value), (
            translate("policy_rules", "Other programs may use Enclave's model through the local API.")
            if value
            else translate("policy_rules", "The local API is off: other programs cannot use Enclave's model.")
        )
    if key == "api_hosts":
        return _listed(value), translate("policy_rules", "The local API may only listen on these addresses.")
    if key == "default_model":
        return value, translate("policy_rules", "This model opens when you have not chosen one yourself.")
    if key == "default_preset":
        return value, translate("policy_rules", "New conversations start with this preset.")
    if key == "keep_history":
        return _yes_no(value), (
            translate("policy_rules", "Conversations are saved on this computer.")
            if value
            else translate("policy_rules", "Conversations are not saved: they are gone when Enclave closes.")
        )
    return str(value), ""


def explain(policy: Policy | None = None) -> list[Explained]:
    policy = _policy(policy)
    out = []
    for key in policy.set_keys():
        value, sentence = _sentence(policy, key)
        source = policy.sources.get(key, "")
        if source == STRICTEST_SOURCE:  # kept in English in `sources`: translated to be shown
            source = translate("policy", STRICTEST_SOURCE)
        out.append(Explained(key, value, sentence, source))
    return out


def is_strict_fallback(policy: Policy, key: str) -> bool:
    return policy.sources.get(key) == STRICTEST_SOURCE
