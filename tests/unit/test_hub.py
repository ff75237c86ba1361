"""Hub search, model pages, offline mode, gated models, token, catalog: against the fake hub."""

from __future__ import annotations

import pytest

from app.core import hub
from app.core.settings import Settings
from tests.fakehub import FakeHub
from tests.unit.conftest import MemoryKeyring

GGUF = b"GGUF" + bytes(60)


def _populate(fake: FakeHub, n: int = 7) -> None:
    for i in range(n):
        fake.add_repo(
            f"acme/model{i}-GGUF",
            downloads=100 * i,
            likes=n - i,
            trending=float(i % 3),
            license="mit" if i % 2 else "apache-2.0",
            gated="manual" if i == 3 else False,
            last_modified=f"2025-0{1 + i % 9}-01T00:00:00.000Z",
        )
        fake.add_file(f"acme/model{i}-GGUF", "model-Q4_K_M.gguf", GGUF)
    fake.add_repo("other/not-gguf", tags=["safetensors"])


def test_search_pages_sorted_with_facts(fake_hub: FakeHub) -> None:
    _populate(fake_hub)
    fake_hub.default_page_size = 3  # the hub pages with Link headers
    pager = hub.SearchPager("model", sort="downloads", page_size=4)
    first = pager.next_page()
    assert [m.repo_id for m in first] == [f"acme/model{i}-GGUF" for i in (6, 5, 4, 3)]
    assert pager.has_more
    second = pager.next_page()
    assert [m.repo_id for m in second] == [f"acme/model{i}-GGUF" for i in (2, 1, 0)]
    assert pager.next_page() == [] and not pager.has_more
    gated = first[3]
    assert gated.gated and gated.author == "acme" and gated.downloads == 300
    assert gated.likes == 4 and gated.license == "mit"
    assert gated.last_modified is not None and gated.last_modified.startswith("2025-04-01")
    paths = [path for _, path, _ in fake_hub.requests if path.startswith("/api/models?")]
    assert len(paths) == 3 and all("filter=gguf" in p for p in paths)
    assert "cursor=3" in paths[1]


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("likes", "acme/model0-GGUF"),
        ("trending", "acme/model2-GGUF"),
        ("updated", "acme/model6-GGUF"),
    ],
)
def test_search_sort_keys(fake_hub: FakeHub, sort: hub.SortKey, first: str) -> None:
    _populate(fake_hub)
    results = hub.search_models("", sort=sort, limit=10)
    assert results[0].repo_id == first
    assert all(r.repo_id.startswith("acme/") for r in results)  # gguf filter applied


def test_model_files_grouped_split_and_unsafe_names(fake_hub: FakeHub) -> None:
    repo = "acme/big-GGUF"
    fake_hub.add_repo(repo, license="llama3.1")
    fake_hub.add_file(repo, "big-Q8_0.gguf", GGUF * 4)
    fake_hub.add_file(repo, "big-IQ3_XS.gguf", GGUF)
    fake_hub.add_file(repo, "big.Q2_K.gguf", GGUF)
    fake_hub.add_file(repo, "F16/big-F16-00001-of-00002.gguf", GGUF * 3)
    fake_hub.add_file(repo, "F16/big-F16-00002-of-00002.gguf", GGUF * 3)
    fake_hub.add_file(repo, "lonely-Q6_K-00001-of-00003.gguf", GGUF)  # incomplete set
    fake_hub.add_file(repo, "mmproj-big-f16.gguf", GGUF)
    fake_hub.add_file(repo, "../escape-Q4_0.gguf", GGUF)
    fake_hub.add_file(repo, "README.md", b"# card", lfs=False)
    details = hub.model_files(repo)
    names = [f.filename for f in details.files]
    assert names == [
        "big.Q2_K.gguf",
        "big-IQ3_XS.gguf",
        "big-Q8_0.gguf",
        "F16/big-F16-00001-of-00002.gguf",
    ]
    f16 = details.files[-1]
    assert f16.is_split and f16.quant == "F16" and f16.size == 2 * len(GGUF) * 3
    assert all(p.sha256 and len(p.sha256) == 64 for p in f16.parts)
    assert set(details.by_quant()) == {"Q2_K", "IQ3_XS", "Q8_0", "F16"}
    assert details.license == "llama3.1" and len(details.revision) == 40
    assert details.find("F16/big-F16-00002-of-00002.gguf") is f16


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("Llama-3.2-3B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0"),
        ("model.IQ4_XS.gguf", "IQ4_XS"),
        ("gemma-2-9b-it-IQ2_XXS.gguf", "IQ2_XXS"),
        ("phi-f16.gguf", "F16"),
        ("x-BF16-00001-of-00002.gguf", "BF16"),
        ("Q4_K_M/x-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"),
        ("model-UD-Q4_K_XL.gguf", "Q4_K_XL"),
        ("weird.gguf", "other"),
    ],
)
def test_parse_quant(name: str, quant: str) -> None:
    assert hub.parse_quant(name) == quant


def test_model_card(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("acme/card-GGUF", card="# Card\nGood model.")
    assert "Good model." in hub.model_card("acme/card-GGUF")
    fake_hub.add_repo("acme/nocard-GGUF")
    assert hub.model_card("acme/nocard-GGUF") == ""


def test_offline_mode_never_touches_network(fake_hub: FakeHub) -> None:
    _populate(fake_hub)
    offline = Settings(offline_mode=True)
    with pytest.raises(hub.OfflineError, match="Offline mode is on"):
        hub.search_models("model", settings=offline)
    with pytest.raises(hub.OfflineError):
        hub.model_files("acme/model1-GGUF", settings=offline)
    with pytest.raises(hub.OfflineError):
        hub.model_card("acme/model1-GGUF", settings=offline)
    from app.core.downloads import download_model

    with pytest.raises(hub.OfflineError):
        download_model("acme/model1-GGUF", "model-Q4_K_M.gguf", settings=offline)
    assert fake_hub.requests == []


def test_offline_mode_from_saved_settings(fake_hub: FakeHub) -> None:
    from app.core.settings import save_settings

    save_settings(Settings(offline_mode=True))
    with pytest.raises(hub.OfflineError):
        hub.SearchPager("x").next_page()
    assert fake_hub.requests == []


def test_missing_repo_is_plain_404(fake_hub: FakeHub) -> None:
    with pytest.raises(hub.NotFoundError, match="acme/nothing was not found"):
        hub.model_files("acme/nothing")


def test_invalid_repo_id_refused_without_request(fake_hub: FakeHub) -> None:
    for bad in ("../etc", "acme/../x", "no-slash", "/abs/x"):
        with pytest.raises(hub.InvalidNameError):
            hub.model_files(bad)
    assert fake_hub.requests == []


def test_gated_model_listing_works_and_goes_without_the_token(
    fake_hub: FakeHub, memory_keyring: MemoryKeyring
) -> None:
    """A gated repo's listing is public: the saved token stays home (it goes with the files,
    tests/unit/test_net_tokens.py)."""
    from app.core import secrets

    fake_hub.add_repo("meta/gated-GGUF", gated="manual")
    fake_hub.add_file("meta/gated-GGUF", "g-Q4_K_M.gguf", GGUF)
    assert hub.model_files("meta/gated-GGUF").gated
    secrets.set_token("hf_secret")
    hub.model_files("meta/gated-GGUF")
    assert all("authorization" not in headers for _m, _p, headers in fake_hub.requests)


def test_gated_error_message_has_link() -> None:
    err = hub.GatedModelError("meta/x", has_token=True)
    assert "accept its license" in str(err) and err.url.endswith("/meta/x")


def test_secrets_roundtrip(memory_keyring: MemoryKeyring) -> None:
    from app.core import secrets

    assert secrets.get_token() is None
    secrets.set_token("  hf_abc  ")
    assert secrets.get_token() == "hf_abc" and secrets.has_token()
    assert ("Enclave", "huggingface-token") in memory_keyring.store
    secrets.delete_token()
    secrets.delete_token()  # twice is fine
    assert secrets.get_token() is None


def test_secrets_without_keyring_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring

    from app.core import secrets

    def broken(*args: object) -> None:
        raise RuntimeError("No recommended backend was available")

    monkeypatch.setattr(keyring, "get_password", broken)
    monkeypatch.setattr(keyring, "set_password", broken)
    assert secrets.get_token() is None
    with pytest.raises(secrets.SecretsError, match="password store"):
        secrets.set_token("hf_x")


def test_endpoint_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1/")
    assert hub.endpoint() == "http://127.0.0.1:1"
    assert hub.model_page_url("a/b") == "http://127.0.0.1:1/a/b"
    monkeypatch.delenv("HF_ENDPOINT")
    assert hub.endpoint() == "https://huggingface.co"


# -- catalog ---------------------------------------------------------------------------------
def _hardware(ram_gb: float, vram_gb: float | None) -> object:
    from app.core.hardware import GpuInfo, HardwareInfo

    gib = 1024**3
    gpus: tuple[GpuInfo, ...] = ()
    if vram_gb is not None:
        gpus = (GpuInfo(0, "Test GPU", int(vram_gb * gib), int(vram_gb * gib), "555", "cuda"),)
    return HardwareInfo(
        int(ram_gb * gib), int(ram_gb * gib * 0.8), 8, 16, "Test CPU", "Linux", gpus, False, ()
    )


def test_catalog_loads_and_is_safe() -> None:
    from app.core.catalog import load_catalog

    entries = load_catalog()
    assert len(entries) >= 10
    assert len({e.repo_id for e in entries}) == len(entries)
    for entry in entries:
        hub.check_repo_id(entry.repo_id)
        assert hub.is_safe_relative(entry.filename) and entry.filename.endswith(".gguf")
        assert entry.license and entry.good_for and entry.size_bytes > 100_000_000
        assert hub.parse_quant(entry.filename) == "Q4_K_M"


def test_recommendation_follows_hardware() -> None:
    from app.core.catalog import CPU_COMFORT_BYTES, recommend

    big_gpu, fit = recommend(_hardware(64, 24))  # type: ignore[arg-type]
    assert fit.verdict == "gpu_full" and big_gpu.size_bytes > 8e9
    small_gpu, fit_small = recommend(_hardware(16, 6))  # type: ignore[arg-type]
    assert fit_small.verdict == "gpu_full" and small_gpu.size_bytes < big_gpu.size_bytes
    laptop, fit_cpu = recommend(_hardware(8, None))  # type: ignore[arg-type]
    assert fit_cpu.fits and laptop.size_bytes <= CPU_COMFORT_BYTES
    tiny, _ = recommend(_hardware(0.5, None))  # type: ignore[arg-type]
    assert tiny.id == "qwen3-0.6b"  # nothing fits: the smallest


def test_best_index_prefers_full_gpu_then_ram() -> None:
    from app.core.fit import Fit, best_index

    full, part, cpu, big = (
        Fit("gpu_full", ""),
        Fit("gpu_partial", ""),
        Fit("cpu", ""),
        Fit("too_large", ""),
    )
    assert best_index([1, 2, 3, 4], [full, full, part, big]) == 1
    assert best_index([1, 2, 3], [cpu, part, big]) == 1
    assert best_index([1], [big]) is None
