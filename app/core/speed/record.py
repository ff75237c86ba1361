"""After every local answer: the measured speed next to the predicted one, logged and kept.

The record is a small JSON-lines file in the cache folder (the last MAX_RECORDS answers);
`enclave bench` shows it, so the prediction's error on this machine is visible for the models
actually used. Measured decode speed is llama.cpp's own eval rate (the host's counters), so
the comparison is about the model and machine, not about the window.

Called on the engine client's thread, after the answer has been handed back; it must never
fail an answer, so everything here is best effort.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from app.core import paths

log = logging.getLogger("enclave.speed")

RECORD_NAME = "answer-speeds.jsonl"
MAX_RECORDS = 200
MIN_TOKENS = 8  # shorter answers measure start-up more than speed

_lock = threading.Lock()


def record_file() -> Path:
    return paths.cache_dir() / RECORD_NAME


def observe_answer(
    model_path: str | Path,
    n_gpu_layers: int,
    measured_decode_tps: float,
    generated_tokens: int,
    prompt_tokens_evaluated: int = 0,
    measured_prompt_tps: float = 0.0,
    path: Path | None = None,
) -> dict[str, Any] | None:
    """Compare and keep one answer's speed. Returns the record (None when not worth one)."""
    try:
        return _observe(
            Path(model_path), n_gpu_layers, measured_decode_tps, generated_tokens,
            prompt_tokens_evaluated, measured_prompt_tps, path,
        )  # fmt: skip
    except Exception:  # never let bookkeeping break an answer
        log.debug("speed record failed", exc_info=True)
        return None


def _observe(
    model: Path,
    n_gpu_layers: int,
    decode_tps: float,
    generated: int,
    prompt_evaluated: int,
    prompt_tps: float,
    path: Path | None,
) -> dict[str, Any] | None:
    if generated < MIN_TOKENS or decode_tps <= 0:
        return None
    from app.core.speed.predict import predict_facts
    from app.core.speed.profile_cache import cached_profile

    record: dict[str, Any] = {
        "at": round(time.time(), 1),
        "model": model.name,
        "n_gpu_layers": n_gpu_layers,
        "generated_tokens": generated,
        "measured_decode_tps": round(decode_tps, 2),
    }
    if prompt_evaluated >= 64 and prompt_tps > 0:
        record["prompt_tokens"] = prompt_evaluated
        record["measured_prompt_tps"] = round(prompt_tps, 1)
    profile = cached_profile()
    facts = _facts(model)
    if profile is not None and facts is not None:
        total = facts.block_count + 1  # the planner counts the output layer as one
        predicted = predict_facts(facts, profile, n_gpu_layers, total, prompt_tokens=max(prompt_evaluated, 1))
        record["predicted_decode_tps"] = round(predicted.decode_tokens_per_s, 2)
        record["decode_ratio"] = round(predicted.decode_tokens_per_s / decode_tps, 3)
        if "measured_prompt_tps" in record:
            record["predicted_prompt_tps"] = round(predicted.prompt_tokens_per_s, 1)
            record["prompt_ratio"] = round(predicted.prompt_tokens_per_s / prompt_tps, 3)
        log.info(
            "answer speed %s: measured %.1f tokens/s, predicted %.1f (predicted/measured %.2f)",
            model.name, decode_tps, predicted.decode_tokens_per_s, record["decode_ratio"],
        )  # fmt: skip
    else:
        log.info("answer speed %s: measured %.1f tokens/s (no prediction yet)", model.name, decode_tps)
    _append(record, path or record_file())
    return record


def _facts(model: Path) -> Any:
    """The model's facts: usually those the window read when it opened the model (gguf_facts
    keeps them), so an answer's end parses no header."""
    from app.core.gguf_facts import GGUFError, read_model_facts

    try:
        return read_model_facts(model)
    except GGUFError:
        return None


def _append(record: dict[str, Any], path: Path) -> None:
    with _lock:
        lines = read_records(path)
        lines.append(record)
        text = "".join(json.dumps(r) + "\n" for r in lines[-MAX_RECORDS:])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


def read_records(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or record_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a torn line from a crash: skip it, keep the rest
        if isinstance(value, dict):
            out.append(value)
    return out


def observe_in_background(model_path: str | Path, n_gpu_layers: int, stats: Any) -> None:
    """`observe_answer` for an engine's ChatStats, on a short-lived thread: the answer is
    handed back at once."""
    if getattr(stats, "finish_reason", "") == "cancelled":
        return  # a stopped answer may have spent its time on the prompt only
    args = (
        model_path,
        n_gpu_layers,
        float(stats.engine_eval_tokens_per_s),
        int(stats.generated_tokens),
        int(stats.prompt_tokens_evaluated),
        float(stats.engine_prompt_tokens_per_s),
    )
    threading.Thread(target=observe_answer, args=args, name="speed-record", daemon=True).start()
