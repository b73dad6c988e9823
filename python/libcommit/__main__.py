"""``python -m libcommit info|verify PATH [--json]``: lcctl's read-only
commands for a machine with only the Python package.

info    what the database's files say: page size, checkpoint, the WAL
        segments still needed, and what opening it now would replay, one
        line per segment (epochs, frames kept and dropped, and why).
verify  checks every checksum; names each bad unit.

Exit status: 0 clean, 1 corrupt (or the files could not be read), 2 usage.
Nothing here writes to the database; it may be open elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

from . import Error, info, verify

EXIT_CLEAN = 0
EXIT_CORRUPT = 1
EXIT_USAGE = 2


def _print_segments(segments: List[Any], out: TextIO) -> None:
    for s in segments:
        print(
            f"    {s['path']}: first epoch {s['first_epoch']}, log start {s['log_start']}, "
            f"capacity {s['capacity']} bytes, file {s['file_bytes']} bytes",
            file=out,
        )


def _print_info(report: Dict[str, Any], out: TextIO) -> None:
    recovery = report["recovery"]
    print(f"database:         {report['path']}", file=out)
    print(f"page size:        {report['page_size']}", file=out)
    print(f"db id:            {report['db_id']:#018x}", file=out)
    print(f"checkpoints:      {report['generation']}", file=out)
    print(f"checkpoint seq:   {report['checkpoint_seq']}", file=out)
    print(f"last commit seq:  {report['last_commit_seq']}", file=out)
    print(
        f"main file:        {report['main_pages']} pages, {report['main_file_bytes']} bytes",
        file=out,
    )
    print(f"wal segments:     {len(report['segments'])}", file=out)
    _print_segments(report["segments"], out)
    if report["capsule_segments"]:
        print(f"capsule segments: {len(report['capsule_segments'])}", file=out)
        _print_segments(report["capsule_segments"], out)
    print(
        f"recovery:         {recovery['commits_recovered']} commits, "
        f"{recovery['records_applied']} records, {recovery['bytes_read']} bytes "
        f"to replay, up to seq {recovery['last_commit_seq']}",
        file=out,
    )
    for s in recovery["segments"]:
        reason = s["reason"] or "ok"
        print(
            f"    {s['path']}: epochs {s['epoch_min']}..{s['epoch_max']}, "
            f"{s['frames_kept']} frames kept, {s['frames_dropped']} dropped ({reason})",
            file=out,
        )
    corruption = report["corruption"]
    print(f"corruption:       {corruption if corruption else 'none'}", file=out)


def _print_verify(report: Dict[str, Any], out: TextIO) -> None:
    checked = f"{report['units_checked']} units, {report['bytes_checked']} bytes checked"
    if report["clean"]:
        torn = "; torn tail (normal after a crash)" if report["torn_tail"] else ""
        print(f"{report['path']}: clean ({checked}){torn}", file=out)
        return
    bad = report["bad"]
    print(f"{report['path']}: CORRUPT, {len(bad)} bad unit(s) ({checked})", file=out)
    for unit in bad:
        print(f"    {unit['file']} at offset {unit['offset']}: {unit['what']}", file=out)


def _info(path: str, as_json: bool, out: TextIO) -> int:
    report = info(path)
    if as_json:
        print(json.dumps(report, indent=2), file=out)
    else:
        _print_info(dict(report), out)
    return EXIT_CORRUPT if report["corruption"] else EXIT_CLEAN


def _show_progress(done: int, total: int) -> None:
    """A one-line progress display on stderr (only when it is a terminal)."""
    end = "\n" if done >= total else ""
    print(f"\rverifying: {done}/{total} pages and images", end=end, file=sys.stderr, flush=True)


def _verify(path: str, as_json: bool, out: TextIO) -> int:
    report = verify(path, progress=_show_progress if sys.stderr.isatty() else None)
    if as_json:
        print(json.dumps(report, indent=2), file=out)
    else:
        _print_verify(dict(report), out)
    return EXIT_CLEAN if report["clean"] else EXIT_CORRUPT


_COMMANDS: Dict[str, Callable[[str, bool, TextIO], int]] = {
    "info": _info,
    "verify": _verify,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m libcommit",
        description="Inspect and verify a libcommit database (read-only).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, text in (
        ("info", "describe the database's files and what opening it would replay"),
        ("verify", "check every checksum; exit 1 naming each bad unit"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("path", metavar="PATH", help="the database (its main file)")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Runs the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    out = sys.stdout if out is None else out
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    if not os.path.isfile(args.path):
        parser.error(f"{args.path}: no such database file")
    try:
        return _COMMANDS[args.command](args.path, args.json, out)
    except Error as e:
        print(f"{args.command}: {e}", file=sys.stderr)
        return EXIT_CORRUPT


if __name__ == "__main__":
    sys.exit(main())
