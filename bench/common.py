"""What every benchmark shares: the machine it ran on, medians, and its section of RESULTS.md.

Each benchmark owns one section of bench/RESULTS.md (between markers with its name) and rewrites only
that section, so benchmarks can run separately and the file keeps the latest figures of each.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADER = """# Benchmark results

Written by the scripts in bench/ (`make bench`); each section is rewritten by its own script.
Figures are medians over repeated runs on the machine named in the section. Targets come from the issues;
where one is missed, the section says by how much and why. Benchmarks are not tests: nothing fails on a figure.
"""


def machine() -> str:
    mem_kib = 0
    try:
        with open("/proc/meminfo") as fh:
            mem_kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores, {mem_kib / 1048576:.0f} GiB, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, load {load:.1f} at start")


def code_version() -> str:
    """The commit measured, and whether tracked files differ from it."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], text=True,
                          stdout=subprocess.PIPE).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], text=True,
                           stdout=subprocess.PIPE).stdout.splitlines()
    return f"commit {head}" + (f" + uncommitted changes in {len(dirty)} tracked files" if dirty else "")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_section(name: str, body: str) -> Path:
    """Replace this benchmark's section of RESULTS.md with body (markdown)."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"{begin}\n## {name}\n\n_{stamp} on {machine()}_\n\n{body.strip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    return RESULTS
