"""GGUF fuzz figures: mutated headers of the real test models through `enclave inspect`
(in-process workers, plus a subset through the real command) and through load + chat in the
real engine host. Prints the count of each outcome; the target is 0 tracebacks, hangs, native
crashes and unclear messages.

    python -m tests.benchmarks.bench_fuzz_gguf [--inspect 1500] [--cli 30] [--load 50]

Outcomes: ok (it loaded / was described), message (a plain sentence refused it), unclear (a
refusal that is not a plain sentence), traceback, hang, crash (a native crash: of the inspect
worker, or of the engine host; for load cases the app survives and names the cause).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.fuzz.gguf_layout import read_layout
from tests.fuzz.harness import FuzzReport, fuzz_cli, fuzz_inspect, fuzz_load, pick_load_cases
from tests.fuzz.seeds import seed_models


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--inspect", type=int, default=1500, help="inspect cases in all (split over the seeds)"
    )
    parser.add_argument("--cli", type=int, default=30, help="of those, through the real command")
    parser.add_argument("--load", type=int, default=50, help="load+chat cases")
    parser.add_argument("--first", type=int, default=0, help="first case number")
    parser.add_argument("--show", type=int, default=10, help="failures to print")
    args = parser.parse_args()
    os.environ.setdefault("ENCLAVE_HOME", tempfile.mkdtemp(prefix="enclave-fuzz-home-"))
    seeds = seed_models()
    work = Path(tempfile.mkdtemp(prefix="enclave-fuzz-"))
    total = FuzzReport()
    per_seed = max(1, args.inspect // len(seeds))
    for name, path in seeds.items():
        report = fuzz_inspect(path, name, args.first, args.first + per_seed, work / name)
        print(f"inspect {name:8s} {report.summary()}")
        total.merge(report)
    print(f"inspect total    {total.summary()}")
    if args.cli:
        cli = FuzzReport()
        for name, path in seeds.items():
            numbers = list(
                range(args.first, args.first + per_seed, max(1, per_seed // (args.cli // len(seeds) or 1)))
            )
            cli.merge(fuzz_cli(path, name, numbers[: args.cli // len(seeds)], work / f"cli-{name}"))
        print(f"cli   total      {cli.summary()}")
        total.merge(cli)
    if args.load:
        load = FuzzReport()
        names = ["smollm2", "gemma3", "minilm"]
        share = {
            "smollm2": args.load - 2 * (args.load // 4),
            "gemma3": args.load // 4,
            "minilm": args.load // 4,
        }
        for name in names:
            layout = read_layout(seeds[name])
            cases = pick_load_cases(layout, name, share[name], start=args.first)
            report = fuzz_load(
                cases, layout, work / f"load-{name}", real_data=name != "gemma3", embed=name == "minilm"
            )
            print(f"load  {name:8s} {report.summary()}")
            load.merge(report)
        print(f"load  total      {load.summary()}")
        total.merge(load)
    bad = Counter(f["outcome"] for f in total.failures)
    print(f"ALL   {total.summary()}")
    print(f"bad outcomes: {dict(bad) or 0}")
    for failure in total.failures[: args.show]:
        print(json.dumps(failure)[:800])
    return 0


if __name__ == "__main__":
    sys.exit(main())
