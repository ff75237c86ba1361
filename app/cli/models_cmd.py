"""`enclave search | files | download | models`: find, fetch and list GGUF models.

enclave search QUERY [--sort downloads|likes|trending|updated] [--limit N] [--json]
enclave files REPO [--json]             GGUF files by quantization, with a fit verdict
enclave download REPO [FILE]            progress on the terminal; Ctrl+C pauses (resumable)
enclave models [--json]                 every model on this computer
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    search = subparsers.add_parser("search", help="search GGUF models on Hugging Face")
    search.add_argument("query", nargs="?", default="", help="text to look for in model names")
    search.add_argument(
        "--sort", choices=["downloads", "likes", "trending", "updated"], default="downloads"
    )
    search.add_argument("--limit", type=int, default=20, help="how many results (default 20)")
    search.add_argument("--json", action="store_true", help="print machine-readable JSON")
    search.set_defaults(handler=run_search)

    files = subparsers.add_parser("files", help="list a model's GGUF files and how they fit")
    files.add_argument("repo", help="owner/name on Hugging Face")
    files.add_argument("--json", action="store_true", help="print machine-readable JSON")
    files.set_defaults(handler=run_files)

    download = subparsers.add_parser("download", help="download a GGUF model (resumable)")
    download.add_argument("repo", help="owner/name on Hugging Face")
    download.add_argument(
        "file", nargs="?", default="", help="file name (default: the best fit for this computer)"
    )
    download.set_defaults(handler=run_download)

    models = subparsers.add_parser("models", help="list the models on this computer")
    models.add_argument("--json", action="store_true", help="print machine-readable JSON")
    models.set_defaults(handler=run_models)


def _size(n: float) -> str:
    from app.core.downloads import format_bytes

    return format_bytes(n)


def run_search(args: argparse.Namespace) -> int:
    from app.cli.output import fail, print_json
    from app.core.hub import HubError, search_models
    from app.core.policy_rules import allowed_repos

    try:
        results = allowed_repos(search_models(args.query, args.sort, max(1, args.limit)))
    except HubError as exc:
        return fail(str(exc))
    if args.json:
        print_json(results)
        return 0
    if not results:
        print("No GGUF models found.")
        return 0
    for m in results:
        flags = " [gated]" if m.gated else ""
        updated = (m.last_modified or "")[:10]
        print(
            f"{m.repo_id}{flags}\n    {m.downloads:,} downloads, {m.likes:,} likes, "
            f"updated {updated or '?'}, license {m.license or '?'}"
        )
    return 0


def run_files(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from app.cli.output import fail, print_json
    from app.core.fit import best_index, detect_hardware_safely, fit_for_size
    from app.core.hub import HubError, model_files
    from app.core.policy_rules import allowed_files

    try:
        details = model_files(args.repo)
    except HubError as exc:
        return fail(str(exc))
    listed = len(details.files)
    details = replace(details, files=allowed_files(details.repo_id, details.files))  # the policy
    hidden = listed - len(details.files)
    hardware = detect_hardware_safely()
    fits = [fit_for_size(f.size, hardware) if hardware is not None else None for f in details.files]
    best = (
        best_index([f.size for f in details.files], [f for f in fits if f is not None])
        if hardware is not None
        else None
    )
    if args.json:
        print_json(
            {
                "repo_id": details.repo_id,
                "revision": details.revision,
                "license": details.license,
                "gated": details.gated,
                "files": [
                    {
                        "filename": f.filename,
                        "quant": f.quant,
                        "size": f.size,
                        "parts": [p.filename for p in f.parts],
                        "fit": fit.verdict if fit else "unknown",
                        "summary": fit.summary if fit else "",
                        "recommended": i == best,
                    }
                    for i, (f, fit) in enumerate(zip(details.files, fits, strict=True))
                ],
            }
        )
        return 0
    gated = " (gated: accept its license on Hugging Face first)" if details.gated else ""
    print(f"{details.repo_id}{gated}  license {details.license or '?'}")
    if hidden:
        print(f"{hidden} file(s) not shown: your organisation does not allow them.")
    if not details.files:
        print("No GGUF files in this repository." if not hidden else "No file of it is allowed.")
        return 0
    for i, (f, fit) in enumerate(zip(details.files, fits, strict=True)):
        mark = "*" if i == best else " "
        split = f" ({len(f.parts)} parts)" if f.is_split else ""
        verdict = fit.verdict if fit else "unknown"
        print(f"{mark} {f.quant:<8} {_size(f.size):>9}  {verdict:<11} {f.filename}{split}")
    if best is not None:
        print("* best choice for this computer")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from app.cli.output import fail
    from app.core.downloads import DownloadCancelled, Progress, download_model, safe_model_path
    from app.core.fit import best_index, detect_hardware_safely, fit_for_size
    from app.core.hub import HubError, model_files
    from app.core.settings import load_settings

    try:
        if args.file:  # refuse a name that escapes the models folder before any network call
            safe_model_path(load_settings().resolved_models_dir(), args.repo, args.file)
        details = model_files(args.repo)
    except HubError as exc:
        return fail(str(exc))
    if args.file:
        chosen = details.find(args.file)
        if chosen is None:
            return fail(
                f"{args.repo} has no GGUF file named {args.file}. Try: enclave files {args.repo}"
            )
    else:
        hardware = detect_hardware_safely()
        if hardware is None or not details.files:
            return fail("Name the file to download. Try: enclave files " + args.repo)
        fits = [fit_for_size(f.size, hardware) for f in details.files]
        best = best_index([f.size for f in details.files], fits)
        if best is None:
            return fail("None of this model's files fits this computer.")
        chosen = details.files[best]
        print(f"Best fit for this computer: {chosen.filename}")

    tty = sys.stderr.isatty()
    last_line = [0.0]

    def show(p: Progress) -> None:
        import time

        now = time.monotonic()
        if not tty and p.state == "downloading" and now - last_line[0] < 2:
            return
        last_line[0] = now
        eta = f", {int(p.eta // 60)}:{int(p.eta % 60):02d} left" if p.eta else ""
        text = (
            f"{p.state:<11} {_size(p.downloaded)} / {_size(p.total)} "
            f"({100 * p.fraction:5.1f}%) {_size(p.speed)}/s{eta} {p.message}"
        )
        end = "\r" if tty and p.state == "downloading" else "\n"
        print(text.ljust(79), end=end, file=sys.stderr, flush=True)

    try:
        path = download_model(
            details.repo_id,
            chosen.filename,
            revision=details.revision,
            parts=chosen.parts,
            on_progress=show,
        )
    except KeyboardInterrupt:
        print("\nPaused. Run the same command again to resume.", file=sys.stderr)
        return 130
    except DownloadCancelled:
        return fail("Download stopped.")
    except HubError as exc:
        if tty:
            print(file=sys.stderr)
        return fail(str(exc))
    print(path)
    return 0


def run_models(args: argparse.Namespace) -> int:
    import time

    from app.cli.output import print_json
    from app.core.library import SOURCE_LABELS, scan_library
    from app.core.policy_rules import model_refusal

    models = scan_library()
    if args.json:
        print_json(
            [
                {
                    "path": str(m.path),
                    "name": m.name,
                    "source": m.source,
                    "repo_id": m.repo_id,
                    "size": m.size,
                    "modified": m.modified,
                    "last_used": m.last_used,
                    "parts": [str(p) for p in m.parts],
                    "deletable": m.deletable,
                    "allowed": model_refusal(m.path, m.repo_id, roots=[]) is None,
                }
                for m in models
            ]
        )
        return 0
    if not models:
        print("No models yet. Try: enclave search qwen")
        return 0
    for m in models:
        used = time.strftime("%Y-%m-%d", time.localtime(m.last_used)) if m.last_used else "never"
        where = SOURCE_LABELS.get(m.source, m.source)
        refused = " [not allowed by your organisation]" if model_refusal(m.path, m.repo_id, roots=[]) else ""
        print(f"{m.name}  [{where}]{refused}  {_size(m.size)}, last used {used}\n    {m.path}")
    return 0
