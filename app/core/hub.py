"""Hugging Face search and file listings, through `huggingface_hub.HfApi` only.

Every function here is blocking and meant for a worker thread (the GUI runs them through
ui/tasks.py). None of them touches the network while the network gate is closed: they
raise `OfflineError` first. Errors are `HubError` subclasses whose `str()` is a sentence a
non-technical person understands; the original exception stays in `__cause__` for logs.

API for the pages:

- `SearchPager(query, sort="downloads", page_size=30)`: `next_page() -> list[ModelSummary]`,
  `has_more`. One pager per search; each `next_page()` may fetch the next page from the hub
  (paging follows the hub's `Link` header), so call it when the user scrolls to the end.
- `search_models(query, sort, limit) -> list[ModelSummary]`: the first `limit` results.
- `model_files(repo_id) -> ModelDetails`: the repo's GGUF files grouped by quantization, split
  sets (`-00001-of-00003`) merged into one `GGUFFile`, sizes and LFS sha256 per part.
- `model_card(repo_id) -> str`: the README text (downloaded with `hf_hub_download`).
- `endpoint()`: the hub base URL, `HF_ENDPOINT` read at call time (not at import time).
- `model_page_url(repo_id)`: the page where a user accepts a gated model's license.

Every call asks the network gate first (app/core/net: offline mode, HF_HUB_OFFLINE, the IT
policy). The token is only ever the one the user saved in Enclave, sent only when a gated or
private repo answers 401/403 (app/core/net/tokens.py); searches are always anonymous, and
huggingface_hub never picks up `HF_TOKEN` or its token file on its own.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from app.core.i18n import translate
from app.core.net import tokens
from app.core.net.errors import (  # re-exported: the names the app has always used
    CertificateError as CertificateError,
)
from app.core.net.errors import (
    DownloadsOffError as DownloadsOffError,
)
from app.core.net.errors import (
    HubError,
    NetworkError,
    OfflineError,
    UnreachableError,
)
from app.core.net.errors import (
    ProxyError as ProxyError,
)
from app.core.net.gate import gate
from app.core.net.transport import prepare_hub
from app.core.settings import Settings

if TYPE_CHECKING:
    from huggingface_hub import HfApi, ModelInfo

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
LISTING_TIMEOUT = 10.0  # seconds without a byte before a search page is retried
CONNECT_TIMEOUT = 5.0  # seconds to open the connection for a search page
SortKey = Literal["downloads", "likes", "trending", "updated"]
_SORTS: dict[str, str] = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trending_score",
    "updated": "last_modified",
}
_EXPAND = [
    "author",
    "downloads",
    "likes",
    "lastModified",
    "gated",
    "private",
    "tags",
    "trendingScore",
]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[\w.\-]{1,96}$")
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
# Most specific first: IQ4_XS before Q4_0 etc. Matched against the upper-cased file name.
_QUANT = re.compile(
    r"(?<![A-Z0-9])("
    r"IQ[1-4]_(?:XXS|XS|S|M|NL)|IQ1_S|IQ1_M|TQ[12]_0|"
    r"Q[2-8]_K(?:_XL|_XS|_S|_M|_L)?|Q[4-8]_[01]|Q2_K|MXFP4|"
    r"BF16|F16|FP16|F32|FP32"
    r")(?![A-Z0-9])"
)
# Rough bits per weight, used to order quantizations from smallest to largest.
# fmt: off
_QUANT_BITS: dict[str, float] = {
    "IQ1_S": 1.56, "IQ1_M": 1.75, "TQ1_0": 1.69, "TQ2_0": 2.06, "IQ2_XXS": 2.06, "IQ2_XS": 2.31,
    "IQ2_S": 2.5, "IQ2_M": 2.7, "Q2_K": 2.96, "Q2_K_S": 2.9, "Q2_K_L": 3.0, "Q2_K_XL": 3.1,
    "IQ3_XXS": 3.06, "IQ3_XS": 3.3, "IQ3_S": 3.44, "IQ3_M": 3.66, "Q3_K_S": 3.5, "Q3_K_M": 3.91,
    "Q3_K_L": 4.27, "Q3_K_XL": 4.3, "IQ4_XS": 4.25, "IQ4_NL": 4.5, "Q4_0": 4.55, "Q4_1": 5.0,
    "MXFP4": 4.25, "Q4_K_S": 4.58, "Q4_K": 4.89, "Q4_K_M": 4.89, "Q4_K_L": 5.0, "Q4_K_XL": 5.0,
    "Q5_0": 5.54, "Q5_1": 6.0, "Q5_K_S": 5.54, "Q5_K": 5.7, "Q5_K_M": 5.7, "Q5_K_L": 5.8,
    "Q5_K_XL": 5.9, "Q6_K": 6.56, "Q6_K_L": 6.6, "Q6_K_XL": 6.7, "Q8_0": 8.5, "Q8_K_XL": 8.6,
    "BF16": 16.0, "F16": 16.0, "FP16": 16.0, "F32": 32.0, "FP32": 32.0,
}
# fmt: on


# -- errors ---------------------------------------------------------------------------------
# The network's own errors live in app/core/net/errors.py (the gate raises them before any
# socket); they are re-exported here under the names the app has always used.
class GatedModelError(HubError):
    """401/403 on a gated or private model: the user must accept its license on the hub."""

    def __init__(self, repo_id: str, has_token: bool) -> None:
        self.repo_id = repo_id
        self.url = model_page_url(repo_id)
        if has_token:
            text = translate(
                "hub",
                "This model needs your approval first. Open {address} , accept its license "
                "with your Hugging Face account, then try again.",
            )
        else:
            text = translate(
                "hub",
                "This model needs a Hugging Face account. Open {address} and accept its "
                "license, then add your Hugging Face token in Settings and try again.",
            )
        super().__init__(text.format(address=self.url))


class NotFoundError(HubError):
    """Nothing of that name on the hub. Build it with one of the classmethods (each a whole
    sentence to translate); `NotFoundError(what)` puts a phrase of the caller's in front."""

    def __init__(self, what: str = "", *, text: str = "") -> None:
        super().__init__(
            text
            or translate("hub", "{what} was not found on Hugging Face. Check the name and try again.").format(
                what=what
            )
        )

    @classmethod
    def file(cls, filename: str, repo_id: str) -> NotFoundError:
        return cls(
            text=translate(
                "hub",
                "The file {file} in {model} was not found on Hugging Face. Check the name and try again.",
            ).format(file=filename, model=repo_id)
        )

    @classmethod
    def any_file(cls, repo_id: str) -> NotFoundError:
        return cls(
            text=translate(
                "hub",
                "That file in {model} was not found on Hugging Face. Check the name and try again.",
            ).format(model=repo_id)
        )

    @classmethod
    def version(cls, repo_id: str) -> NotFoundError:
        return cls(
            text=translate(
                "hub",
                "That version of {model} was not found on Hugging Face. Check the name and try again.",
            ).format(model=repo_id)
        )

    @classmethod
    def model(cls, repo_id: str = "") -> NotFoundError:
        if not repo_id:
            return cls(
                text=translate(
                    "hub", "The model was not found on Hugging Face. Check the name and try again."
                )
            )
        return cls(
            text=translate(
                "hub",
                "The model {model} was not found on Hugging Face. Check the name and try again.",
            ).format(model=repo_id)
        )

    @classmethod
    def that(cls) -> NotFoundError:
        return cls(text=translate("hub", "That was not found on Hugging Face. Check the name and try again."))


class InvalidNameError(HubError):
    def __init__(self, name: str) -> None:
        super().__init__(
            translate("hub", "{name} is not a valid model or file name.").format(name=repr(name))
        )


# -- data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSummary:
    """One search result."""

    repo_id: str
    author: str
    downloads: int
    likes: int
    last_modified: str | None  # ISO 8601, UTC
    license: str | None
    gated: bool
    private: bool = False
    trending_score: float = 0.0


@dataclass(frozen=True)
class FilePart:
    """One file on the hub: a whole model, or one part of a split set."""

    filename: str
    size: int
    sha256: str | None  # from the hub's LFS metadata; None for a non-LFS file


@dataclass(frozen=True)
class GGUFFile:
    """A downloadable model: one .gguf file, or a split set shown and downloaded as one."""

    filename: str  # the first part's name: what llama.cpp opens
    quant: str  # "Q4_K_M", "IQ3_XS", "F16"... or "other"
    parts: tuple[FilePart, ...]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def is_split(self) -> bool:
        return len(self.parts) > 1

    @property
    def bits(self) -> float:
        return quant_bits(self.quant)


@dataclass
class ModelDetails:
    """A repo's model page: facts and GGUF files (smallest quantization first)."""

    repo_id: str
    revision: str  # the commit the listing is from; downloads pin to it
    author: str
    license: str | None
    gated: bool
    downloads: int
    likes: int
    last_modified: str | None
    files: list[GGUFFile] = field(default_factory=list)

    def by_quant(self) -> dict[str, list[GGUFFile]]:
        groups: dict[str, list[GGUFFile]] = {}
        for item in self.files:
            groups.setdefault(item.quant, []).append(item)
        return groups

    def find(self, filename: str) -> GGUFFile | None:
        for item in self.files:
            if filename == item.filename or any(p.filename == filename for p in item.parts):
                return item
        return None


# -- helpers --------------------------------------------------------------------------------
def endpoint() -> str:
    """The hub base URL. `HF_ENDPOINT` is read now, not when huggingface_hub was imported."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def model_page_url(repo_id: str) -> str:
    return f"{endpoint()}/{repo_id}"


def check_repo_id(repo_id: str) -> str:
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise InvalidNameError(repo_id)
    return repo_id


def parse_quant(filename: str) -> str:
    base = filename.rsplit("/", 1)[-1].upper()
    found = _QUANT.findall(base.replace("-", "_").replace(".", "_"))
    if not found:
        found = _QUANT.findall(base)
    if not found:
        return "other"
    quant = found[-1]
    return {"FP16": "F16", "FP32": "F32"}.get(quant, quant)


def quant_bits(quant: str) -> float:
    return _QUANT_BITS.get(quant, 99.0)


def resolve_token(token: str | None = None) -> str | None:
    """The token Enclave may send when a repo asks for one (see app/core/net/tokens.py)."""
    return tokens.stored_token(token)


def make_api(token: str | bool = False) -> HfApi:
    """An HfApi that sends `token`, or none at all (False: never the one huggingface_hub finds)."""
    from huggingface_hub import HfApi

    prepare_hub()
    _fail_fast_without_connection()
    return HfApi(endpoint=endpoint(), token=token or False, library_name="enclave")


def _fail_fast_without_connection() -> None:
    """huggingface_hub's retries, less the ones for a connection that never opened.

    Its `http_backoff` retries network errors five times with 1+2+4+8+8 s of sleep: with no
    network at all the user waited ~23 s for a search to fail, and as long for a model card
    (`hf_hub_download`'s second, retrying HEAD). A refused connection or a name that does not
    resolve will not fix itself in those seconds, so both now fail at once; what is worth
    retrying still is (a transfer that timed out or broke off midway, 408/429/5xx answers).
    Listings are sent with no timeout at all; they get LISTING_TIMEOUT so a stalled connection
    ends as a retryable timeout instead of a search that never returns. Calls that ask for no
    retries (downloads, which retry in app.core.downloads) pass their own empty list: unchanged.

    Two call sites, both module globals: the pager of listings and the HEAD that follows
    redirects. Optional: where huggingface_hub moves one, it keeps its default behaviour
    (tests/unit/test_hub_offline.py then fails on the time bound).
    """
    try:
        from huggingface_hub.utils import _http, _pagination
    except ImportError:
        return
    for module in (_pagination, _http):
        current = getattr(module, "http_backoff", None)
        if current is not None and not getattr(current, "_enclave_fail_fast", False):
            module.http_backoff = _without_connect_retries(current)  # type: ignore[attr-defined]


def _without_connect_retries(backoff: Callable[..., Any]) -> Callable[..., Any]:
    def without(*args: Any, **kwargs: Any) -> Any:
        import httpx2

        kwargs.setdefault(
            "retry_on_exceptions",
            (
                httpx2.ReadTimeout,
                httpx2.WriteTimeout,
                httpx2.ReadError,
                httpx2.WriteError,
                httpx2.RemoteProtocolError,
            ),
        )
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = httpx2.Timeout(LISTING_TIMEOUT, connect=CONNECT_TIMEOUT)
        return backoff(*args, **kwargs)

    without._enclave_fail_fast = True  # type: ignore[attr-defined]
    return without


def _no_connection(exc: BaseException) -> bool:
    """True when no connection could be opened: refused, unresolvable name, no route.

    httpx reports all of these as ConnectError (a failed TLS handshake too, which is not "no
    network": app.core.net.diagnose names the certificate problem before this is asked).
    Causes are followed because huggingface_hub wraps some errors (hf_hub_download's "not in
    the local cache either").
    """
    import httpx2

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (httpx2.ConnectError, httpx2.ConnectTimeout)):
            text = str(current).lower()
            return "ssl" not in text and "certificate" not in text
        current = current.__cause__ or current.__context__
    return False


def translate_error(exc: BaseException, repo_id: str = "", token: str | bool | None = None) -> HubError:
    """Map huggingface_hub / httpx errors onto plain-words HubErrors."""
    import httpx2
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, HubError):
        return exc
    from app.core.net.diagnose import connection_problem

    # A certificate this computer does not trust, or the proxy: say which, in plain words.
    on_the_way = connection_problem(exc, endpoint())
    if on_the_way is not None:
        return on_the_way
    if _no_connection(exc):
        return UnreachableError()
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return gate().closed_because("search") or OfflineError()
    if isinstance(exc, hf_errors.GatedRepoError):
        return GatedModelError(repo_id, has_token=bool(token or resolve_token()))
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return NotFoundError.version(repo_id)
    if isinstance(exc, (hf_errors.RemoteEntryNotFoundError, hf_errors.EntryNotFoundError)):
        return NotFoundError.any_file(repo_id)
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        status = exc.response.status_code if exc.response is not None else 404
        if status in (401, 403):
            return GatedModelError(repo_id, has_token=bool(token or resolve_token()))
        return NotFoundError.model(repo_id)
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            return GatedModelError(repo_id, has_token=bool(token or resolve_token()))
        if status == 404:
            return NotFoundError.model(repo_id) if repo_id else NotFoundError.that()
        detail = translate("hub", "the hub answered {status}").format(status=status) if status else ""
        return NetworkError(detail)
    if isinstance(exc, (httpx2.TransportError, TimeoutError, ConnectionError)):
        return NetworkError(type(exc).__name__)
    return HubError(
        translate("hub", "Something went wrong talking to Hugging Face: {problem}").format(problem=exc)
    )


def _license(info: ModelInfo) -> str | None:
    card = getattr(info, "card_data", None)
    if card is not None:
        value = card.get("license") if hasattr(card, "get") else None
        if isinstance(value, str):
            return value
    for tag in info.tags or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def _summary(info: ModelInfo) -> ModelSummary:
    modified = info.last_modified.isoformat() if info.last_modified else None
    return ModelSummary(
        repo_id=info.id,
        author=info.author or info.id.split("/")[0],
        downloads=int(info.downloads or 0),
        likes=int(info.likes or 0),
        last_modified=modified,
        license=_license(info),
        gated=bool(info.gated),
        private=bool(info.private),
        trending_score=float(getattr(info, "trending_score", 0) or 0),
    )


# -- search ---------------------------------------------------------------------------------
class SearchPager:
    """GGUF search results, one page at a time (infinite scroll).

    Not thread-safe: use one pager from one worker at a time. The hub is contacted lazily by
    `next_page()`, never by the constructor.
    """

    def __init__(
        self,
        query: str = "",
        sort: SortKey = "downloads",
        page_size: int = 30,
        *,
        settings: Settings | None = None,
        token: str | None = None,
    ) -> None:
        if sort not in _SORTS:
            raise ValueError(f"sort must be one of {sorted(_SORTS)}")
        self.query = query.strip()
        self.sort = sort
        self.page_size = max(1, page_size)
        self._settings = settings
        self._token = token  # kept for callers; a search never sends it
        self._iter: Iterator[ModelInfo] | None = None
        self.has_more = True
        self.loaded = 0

    def next_page(self) -> list[ModelSummary]:
        if not self.has_more:
            return []
        gate().check("search", self._settings)
        try:
            if self._iter is None:
                api = make_api(False)  # a search never carries the user's identity
                self._iter = iter(
                    api.list_models(
                        filter="gguf",
                        search=self.query or None,
                        sort=_SORTS[self.sort],  # type: ignore[arg-type]
                        expand=_EXPAND,  # type: ignore[arg-type]
                    )
                )
            page: list[ModelSummary] = []
            while len(page) < self.page_size:
                try:
                    info = next(self._iter)
                except StopIteration:
                    self.has_more = False
                    break
                page.append(_summary(info))
        except Exception as exc:
            raise translate_error(exc) from exc
        self.loaded += len(page)
        return page


def search_models(
    query: str = "",
    sort: SortKey = "downloads",
    limit: int = 20,
    *,
    settings: Settings | None = None,
    token: str | None = None,
) -> list[ModelSummary]:
    return SearchPager(query, sort, limit, settings=settings, token=token).next_page()


# -- one model ------------------------------------------------------------------------------
def group_gguf_files(siblings: list[tuple[str, int | None, str | None]]) -> list[GGUFFile]:
    """(filename, size, sha256) triples -> GGUF files with split sets merged, smallest first.

    Names that could escape a folder (`..`, absolute, backslashes) are dropped, and so are
    incomplete split sets.
    """
    singles: list[GGUFFile] = []
    sets: dict[tuple[str, int], dict[int, FilePart]] = {}
    for name, size, sha in siblings:
        if not name.lower().endswith(".gguf") or not is_safe_relative(name):
            continue
        part = FilePart(filename=name, size=int(size or 0), sha256=sha)
        match = _SPLIT.match(name)
        if match:
            key = (match.group("stem"), int(match.group("count")))
            sets.setdefault(key, {})[int(match.group("index"))] = part
        else:
            singles.append(GGUFFile(filename=name, quant=parse_quant(name), parts=(part,)))
    for (stem, count), found in sets.items():
        if sorted(found) != list(range(1, count + 1)):
            log.info("Skipping incomplete split set %s (%d of %d parts)", stem, len(found), count)
            continue
        parts = tuple(found[i] for i in range(1, count + 1))
        singles.append(GGUFFile(filename=parts[0].filename, quant=parse_quant(stem), parts=parts))
    singles.sort(key=lambda f: (f.bits, f.size, f.filename))
    return singles


def is_safe_relative(name: str) -> bool:
    """A hub file name we are willing to write under a folder: relative, no `..`, no drive."""
    if not name or "\\" in name or "\0" in name or name.startswith("/") or ":" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def is_mmproj(filename: str) -> bool:
    return "mmproj" in filename.lower()


def model_files(
    repo_id: str,
    revision: str | None = None,
    *,
    settings: Settings | None = None,
    token: str | None = None,
    include_mmproj: bool = False,
) -> ModelDetails:
    """The repo's facts and GGUF files, from `model_info(files_metadata=True)`."""
    check_repo_id(repo_id)
    gate().check("listing", settings)
    try:
        info, _sent = tokens.with_token_on_denial(
            repo_id,
            token,
            lambda send: make_api(send).model_info(repo_id, revision=revision, files_metadata=True),
        )
    except Exception as exc:
        raise translate_error(exc, repo_id, token) from exc
    triples: list[tuple[str, int | None, str | None]] = []
    for sib in info.siblings or []:
        if not include_mmproj and is_mmproj(sib.rfilename):
            continue
        sha = sib.lfs.sha256 if sib.lfs is not None else None
        size = sib.lfs.size if sib.lfs is not None else sib.size
        triples.append((sib.rfilename, size, sha))
    summary = _summary(info)
    return ModelDetails(
        repo_id=info.id or repo_id,
        revision=info.sha or revision or "main",
        author=summary.author,
        license=summary.license,
        gated=summary.gated,
        downloads=summary.downloads,
        likes=summary.likes,
        last_modified=summary.last_modified,
        files=group_gguf_files(triples),
    )


def model_card(repo_id: str, *, settings: Settings | None = None, token: str | None = None) -> str:
    """The model card (README.md) text; empty when the repo has none."""
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_download

    from app.core import paths

    check_repo_id(repo_id)
    gate().check("card", settings)
    cache_dir = str(paths.cache_dir() / "hub")
    prepare_hub()
    _fail_fast_without_connection()  # offline: the cached card at once, else the message
    try:
        path, _sent = tokens.with_token_on_denial(
            repo_id,
            token,
            lambda send: hf_hub_download(
                repo_id, "README.md", cache_dir=cache_dir, endpoint=endpoint(), token=send
            ),
        )
    except hf_errors.RemoteEntryNotFoundError:
        return ""
    except Exception as exc:
        raise translate_error(exc, repo_id, token) from exc
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def summary_dict(item: ModelSummary | ModelDetails) -> dict[str, Any]:
    """A JSON-friendly view (the CLI's --json)."""
    from dataclasses import asdict

    return asdict(item)
