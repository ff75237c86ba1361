"""`enclave policy [--json]`: what the organisation has set on this computer, where each key came
from, and any problem reading it. Exit code 0 also when a source is broken (the policy in force
is then the strictest reading, and this says so); 0 with "nothing set" when there is no policy."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("policy", help="show what your organisation has set (read-only)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.cli.output import print_json
    from app.core.policy import current_policy
    from app.core.policy_rules import explain

    policy = current_policy()
    explained = explain(policy)
    if args.json:
        print_json(
            {
                "policy": policy.as_dict(),
                "sources": {item.key: item.source for item in explained},
                "problems": list(policy.problems),
            }
        )
        return 0
    for problem in policy.problems:
        print(f"Problem: {problem}")
    if policy.problems:
        print()
    if not explained:
        print("Your organisation has set nothing here: every setting is yours to choose.")
        return 0
    print("Set by your organisation (you cannot change these):")
    for item in explained:
        print(f"  {item.key} = {item.value}")
        print(f"      {item.sentence}")
        print(f"      from {item.source}")
    return 0
