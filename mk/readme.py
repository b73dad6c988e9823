"""Keeps the README's examples the code that `make demo` runs.

A README code block preceded by the line

    <!-- example: examples/quickstart.py#commit -->

holds the region of that file between the comment lines `[readme:commit]`
and `[readme:end]` (as `# ...` or `// ...` comments), dedented. With
--check (what `make test` runs) a block that differs from its region fails;
with --write the README is rewritten from the files.

    python3 mk/readme.py --check README.md
    python3 mk/readme.py --write README.md
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import textwrap
from typing import Dict, List, Tuple

MARKER = re.compile(r"^<!-- example: (?P<file>[^#\s]+)#(?P<region>[\w-]+) -->$")
REGION_START = re.compile(r"^\s*(#|//)\s*\[readme:(?P<region>[\w-]+)\]\s*$")
REGION_END = re.compile(r"^\s*(#|//)\s*\[readme:end\]\s*$")


def regions(path: str) -> Dict[str, str]:
    """Every region of a source file, by name, dedented."""
    found: Dict[str, str] = {}
    current: "str | None" = None
    lines: List[str] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            start = REGION_START.match(line)
            if REGION_END.match(line):
                if current is None:
                    sys.exit(f"{path}:{number}: [readme:end] without a region")
                found[current] = textwrap.dedent("".join(lines)).rstrip("\n") + "\n"
                current = None
            elif start:
                if current is not None:
                    sys.exit(f"{path}:{number}: region {start['region']} opens inside {current}")
                current, lines = start["region"], []
            elif current is not None:
                lines.append(line)
    if current is not None:
        sys.exit(f"{path}: region {current} is never closed")
    return found


def render(readme: str, root: str) -> Tuple[str, List[str]]:
    """The README with every marked block replaced; and what was used."""
    out: List[str] = []
    used: List[str] = []
    lines = readme.splitlines(keepends=True)
    cache: Dict[str, Dict[str, str]] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        marker = MARKER.match(line.rstrip("\n"))
        i += 1
        if not marker:
            continue
        if i >= len(lines) or not lines[i].startswith("```"):
            sys.exit(f"README: a code block must follow {line.strip()}")
        out.append(lines[i])
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        if i >= len(lines):
            sys.exit(f"README: the block after {line.strip()} is never closed")
        file, region = marker["file"], marker["region"]
        if file not in cache:
            cache[file] = regions(os.path.join(root, file))
        if region not in cache[file]:
            sys.exit(f"README: {file} has no region [readme:{region}]")
        out.append(cache[file][region])
        used.append(f"{file}#{region}")
    return "".join(out), used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    parser.add_argument("readme")
    args = parser.parse_args()
    root = os.path.dirname(os.path.abspath(args.readme))
    with open(args.readme, encoding="utf-8") as f:
        old = f.read()
    new, used = render(old, root)
    if args.write:
        with open(args.readme, "w", encoding="utf-8") as f:
            f.write(new)
        print(f"readme: wrote {len(used)} examples into {args.readme}")
        return 0
    if new != old:
        sys.stdout.writelines(
            difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), args.readme, "examples"
            )
        )
        print(f"readme: {args.readme} differs from the examples; run 'make readme'", file=sys.stderr)
        return 1
    print(f"readme: {len(used)} examples match their files ({', '.join(sorted(set(u.split('#')[0] for u in used)))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
