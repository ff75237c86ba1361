"""`enclave inspect FILE [--ctx N] [--json]`: what a GGUF file holds and how it would load here."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect", help="describe a GGUF model file and how it would run on this computer"
    )
    parser.add_argument("file", help="path to a .gguf file")
    parser.add_argument(
        "--ctx", type=int, default=None, metavar="N", help="context size to plan for (tokens)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.cli.output import fail, print_json
    from app.core.gguf_facts import GGUFError, read_model_facts
    from app.core.hardware import detect_hardware
    from app.core.planner import plan_offload

    if args.ctx is not None and args.ctx <= 0:
        return fail("--ctx must be a positive number of tokens.")
    from app.core.policy_rules import model_refusal

    refusal = model_refusal(args.file)
    if refusal:
        return fail(refusal)
    try:
        facts = read_model_facts(args.file)
    except GGUFError as exc:
        return fail(str(exc))
    hardware = detect_hardware()
    plan = plan_offload(facts, hardware, args.ctx)
    speed = _predicted_speed(facts, plan, hardware, quiet=args.json)
    if args.json:
        facts_dict: dict[str, Any] = {
            k: getattr(facts, k) for k in facts.__dataclass_fields__ if k != "chat_template"
        }
        print_json({"facts": facts_dict, "plan": plan, "hardware": hardware, "speed": speed})
        return 0
    _print_facts(facts)
    print()
    _print_plan(plan)
    _print_speed(speed)
    return 0


def _predicted_speed(facts: Any, plan: Any, hardware: Any, quiet: bool) -> dict[str, Any] | None:
    """This machine's predicted speed for the file (app.core.speed); the machine benchmark runs
    first (about 10 s, once, kept) if this computer has not been measured yet."""
    import sys

    from app.core.speed import machine_bench, profile_cache
    from app.core.speed.predict import predict_facts

    if facts.is_embedding_model:
        return None
    profile = profile_cache.load_profile(None if profile_cache.pinned() else hardware)
    if profile is None:
        print("Measuring this computer's speed first (about 10 seconds, once)…", file=sys.stderr)
        profile = machine_bench.run_benchmark(hardware)
        profile_cache.save_profile(profile)
    prediction = predict_facts(facts, profile, plan.n_gpu_layers, plan.total_layers)
    return prediction.as_dict()


def _print_speed(speed: dict[str, Any] | None) -> None:
    if speed is None:
        return
    print(
        f"  Speed:        about {speed['decode_tokens_per_s']:.1f} tokens/s "
        f"({speed['words_per_s']:.0f} words a second); first word of a "
        f"{speed['prompt_tokens']:,}-token question after about {speed['first_word_s']:.1f} s"
    )


def _print_facts(facts: Any) -> None:
    n_swa = sum(facts.swa_layers)
    heads = _range(facts.head_count)
    kv_heads = _range(facts.head_count_kv)
    print(f"Model:          {facts.name} ({facts.size_label or 'size unknown'})")
    print(f"File:           {facts.path} ({_mb(facts.file_size)})")
    print(
        f"Architecture:   {facts.architecture}, {facts.block_count} layers, "
        f"embedding {facts.embedding_length}"
    )
    print(f"Quantization:   {facts.quantization}")
    print(f"Context:        trained for {facts.context_length} tokens")
    print(
        f"Attention:      {heads} heads, {kv_heads} KV heads, "
        f"key/value length {facts.key_length}/{facts.value_length}"
    )
    if facts.sliding_window:
        print(
            f"Sliding window: {facts.sliding_window} tokens on {n_swa} of "
            f"{facts.block_count} layers"
        )
    print(
        f"Weights:        {_mb(facts.tensor_bytes)} (layers {_mb(sum(facts.layer_bytes))}, "
        f"embedding {_mb(facts.token_embd_bytes)}, output {_mb(facts.output_bytes)}"
        f"{' tied' if facts.tied_embeddings else ''})"
    )
    kind = (
        f"embedding model (pooling: {facts.pooling_type})"
        if facts.is_embedding_model
        else "chat/text model"
    )
    print(f"Kind:           {kind}")
    print(f"Chat template:  {'yes' if facts.has_chat_template else 'no'}")


def _print_plan(plan: Any) -> None:
    print(f"On this computer: {plan.summary}.")
    print(f"  GPU layers:   {plan.n_gpu_layers} of {plan.total_layers}")
    print(f"  Context:      {plan.n_ctx} tokens")
    print(
        f"  GPU memory:   {_mb(plan.gpu_bytes)} (weights {_mb(plan.gpu_weights_bytes)}, "
        f"KV {_mb(plan.gpu_kv_bytes)}, compute {_mb(plan.gpu_compute_bytes)})"
    )
    print(
        f"  RAM:          {_mb(plan.ram_bytes)} (weights {_mb(plan.ram_weights_bytes)}, "
        f"KV {_mb(plan.ram_kv_bytes)}, compute {_mb(plan.ram_compute_bytes)})"
    )
    for reason in plan.reasons:
        print(f"  - {reason}")


def _range(values: tuple[int, ...]) -> str:
    low, high = min(values, default=0), max(values, default=0)
    return str(low) if low == high else f"{low}-{high}"


def _mb(n_bytes: int) -> str:
    if n_bytes >= 1024**3:
        return f"{n_bytes / 1024**3:.2f} GB"
    return f"{n_bytes / 1024**2:.1f} MB"
