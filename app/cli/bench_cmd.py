"""`enclave bench [--json] [--save] [--cached]`: measure what decides model speed on this computer.

Runs the machine benchmark (app.core.speed.machine_bench, under 10 s), prints what it measured,
and the speeds it predicts for the starter models; also the last answers' measured speeds next to
their predictions (the prediction's error on this machine). `--save` keeps the result as this
machine's profile (what Discover and the Library use); `--cached` shows the kept profile without
measuring. `--json` prints the profile alone (the window's child process reads it).
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure this computer's speed for models (about 10 seconds)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--save", action="store_true", help="keep the result as this computer's speed profile"
    )
    parser.add_argument("--cached", action="store_true", help="show the kept profile, do not measure again")
    parser.add_argument(
        "--no-llama", action="store_true", help="do not time llama.cpp (numpy only; for tests)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.cli.output import fail, print_json
    from app.core.hardware import detect_hardware
    from app.core.speed import machine_bench as mb
    from app.core.speed import profile_cache

    hardware = detect_hardware()
    if args.cached:
        profile = profile_cache.load_profile(hardware)
        if profile is None:
            return fail("This computer's speed has not been measured yet: run `enclave bench`.")
    else:
        profile = mb.run_benchmark(hardware, use_llama=not args.no_llama)
        if args.save:
            profile_cache.save_profile(profile)
    if args.json:
        print_json(profile.to_dict())
        return 0
    _print_profile(profile)
    _print_catalog(profile, hardware)
    _print_records()
    if args.save:
        print(f"\nSaved as this computer's speed profile ({profile_cache.cache_file()}).")
    return 0


def _print_profile(profile: Any) -> None:
    cpu = profile.cpu
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(profile.measured_at))
    prepared = f" (+{profile.prepare_seconds:.1f} s preparing)" if profile.prepare_seconds >= 0.5 else ""
    print(f"Measured {when} in {profile.seconds:.1f} s{prepared}, {profile.threads} threads.")
    print(f"CPU: {cpu.name}")
    curve = ", ".join(f"{p.size_bytes / 1024**2:.0f} MB: {p.gb_per_s:.1f}" for p in cpu.bandwidth)
    print(f"  Memory read bandwidth (GB/s):  {curve}")
    print(f"  Matrix throughput:             {cpu.matmul_gflops:.0f} GFLOP/s (prompt reading)")
    if cpu.prompt_gflops:
        # Per tensor type: a model's prompt is summed over its own types (app/core/speed/predict.py).
        table = ", ".join(f"{name} {gflops:.0f}" for name, gflops in cpu.prompt_gflops)
        print(f"    by weight type (GFLOP/s):    {table}")
        print(f"    attention:                   +{cpu.attention_ns:.1f} ns a score beyond F16's")
    if cpu.decode_gb_per_s:
        # Writing: each type's bytes at its own one-token speed, plus fixed costs (predict.py).
        table = ", ".join(f"{name} {gb:.1f}" for name, gb in cpu.decode_gb_per_s)
        print(f"  One-token kernels (GB/s):      {table} (writing)")
        print(
            f"    fixed costs:                 {cpu.token_overhead_ms * 1000:.0f} µs a token, "
            f"{cpu.layer_overhead_ms * 1000:.0f} µs a layer"
        )
    elif cpu.matvec_gb_per_s:
        print(f"  One-token kernels:             {cpu.matvec_gb_per_s:.1f} GB/s of weights (writing)")
    else:
        print(f"  Fixed cost per layer:          {cpu.layer_overhead_ms * 1000:.0f} µs per token")
    print(f"  How: {cpu.how}")
    for gpu in profile.gpus:
        print(f"GPU {gpu.index}: {gpu.name} [{gpu.kind}]")
        print(f"  Memory bandwidth:              {gpu.sustained_gb_per_s:.0f} GB/s (usable)")
        print(f"  Matrix throughput:             {gpu.matmul_gflops:.0f} GFLOP/s")
        print(f"  How: {gpu.how}")
    for note in profile.notes:
        print(f"Note: {note}")


def _print_catalog(profile: Any, hardware: Any) -> None:
    from app.core.catalog import CatalogError, load_catalog, predict_entry
    from app.core.fit import fit_for_size
    from app.core.speed.predict import DOC_PROMPT_TOKENS

    try:
        entries = load_catalog()
    except CatalogError:
        return
    print(f"\nStarter models on this computer (first word: a {DOC_PROMPT_TOKENS:,}-token question):")
    for entry in entries:
        fit = fit_for_size(entry.size_bytes, hardware)
        if not fit.fits:
            print(f"  {entry.name:<34} too large for this computer")
            continue
        pred = predict_entry(entry, profile, fit)
        mark = "" if pred.fast_enough else "  (slow here)"
        print(
            f"  {entry.name:<34} {pred.decode_tokens_per_s:6.1f} tokens/s, "
            f"first word after {pred.first_word_s:5.1f} s{mark}"
        )


def _print_records() -> None:
    from app.core.speed.record import read_records

    records = [r for r in read_records() if "decode_ratio" in r][-10:]
    if not records:
        return
    print("\nRecent answers (measured by llama.cpp vs predicted, tokens/s):")
    for r in records:
        print(
            f"  {r['model']:<40} measured {r['measured_decode_tps']:6.1f}, "
            f"predicted {r['predicted_decode_tps']:6.1f} (x{r['decode_ratio']:.2f})"
        )
