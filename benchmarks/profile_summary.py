"""Summarise a py-spy raw (collapsed stacks) profile: where the samples go.

    .venv/bin/python benchmarks/profile_summary.py /tmp/profile.txt [--top 25] [--rate 250]

``bench.py --profile PATH`` records the server with ``py-spy record --format raw``; each line is
``frame;frame;...;leaf count`` with frames like ``func (path/file.py:line)``. Prints the share
of samples per thread kind, the functions with most self time (leaf), the functions with most
inclusive time (anywhere on the stack), and inclusive time per package.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


def parse(path: Path) -> Iterator[tuple[list[str], int]]:
    for raw in path.read_text().splitlines():
        stack, _, count = raw.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def function(frame: str) -> str:
    """``func (file.py:12)`` -> ``func (file.py)``: lines of one function count together."""
    m = _FRAME.match(frame)
    return f"{m['func']} ({m['file']})" if m else frame


def package(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    if file.startswith("<") or "/" not in file:
        return file.removesuffix(".py")
    parts = file.split("/")
    if parts[0] == "batchyard" and len(parts) > 2:
        return f"batchyard.{parts[1]}"
    return parts[0]


def thread_kind(stack: Sequence[str]) -> str:
    return "worker thread (SQLite executor)" if "Thread._bootstrap" in stack[0] else "event loop"


def _table(title: str, counts: Counter[str], total: int, top: int) -> None:
    print(f"\n{title}")
    for name, n in counts.most_common(top):
        print(f"  {n / total:6.1%}  {n:>6}  {name}")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--rate", type=float, default=250.0, help="py-spy sampling rate (Hz)")
    args = p.parse_args(argv)

    threads: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    leaf_packages: Counter[str] = Counter()
    total = 0
    for stack, count in parse(args.profile):
        total += count
        threads[thread_kind(stack)] += count
        leaf[function(stack[-1])] += count
        leaf_packages[package(stack[-1])] += count
        for name in {function(f) for f in stack}:
            inclusive[name] += count
        for name in {package(f) for f in stack}:
            packages[name] += count
    if not total:
        raise SystemExit(f"no samples in {args.profile}")
    print(f"{total} samples (~{total / args.rate:.1f} s of CPU at {args.rate:g} Hz)")
    _table("samples per thread", threads, total, args.top)
    _table("self time (leaf function)", leaf, total, args.top)
    _table("self time per package", leaf_packages, total, args.top)
    _table("inclusive time per package", packages, total, args.top)
    _table("inclusive time (function anywhere on the stack)", inclusive, total, args.top)


if __name__ == "__main__":
    main()
