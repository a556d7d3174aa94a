#!/usr/bin/env python3
"""Run Molecule scenarios, a few at a time, with output a person can follow.

    scripts/run_scenarios.py [--jobs N] [--retries N] [scenario ...]     (default: every molecule/*/molecule.yml)

Each ``molecule test -s <scenario>`` writes its whole output to artifacts/molecule/<scenario>.log.
This script prints one line when a scenario starts and one when it ends (with its duration), a line
every minute naming what is still running, and the last lines of the log of every scenario that
failed, and again, just above the final summary, the task that failed. It exits non-zero when any scenario
failed, after all of them ran. With --retries, a failed scenario runs again; one that then passes counts as
passed but is reported FLAKY with the task that failed (its first log is kept as <scenario>.failed-1.log).

The scenarios start longest first (durations of the last run, kept in artifacts/molecule/durations.json;
a fresh clone uses DEFAULT_ORDER), so that the parallel runs end together.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "artifacts" / "molecule"
DURATIONS = LOGS / "durations.json"
# Longest first, as measured in the session-5 runs (ec2 ~1060 s, site ~820 s, registry, resilience and monitoring
# ~500-800 s); used until a run has recorded durations.
DEFAULT_ORDER = ["ec2", "site", "registry", "resilience", "monitoring", "etl_stack", "secure_app", "base_image", "student_app", "api_pair", "compose_stack", "webserver", "docker_engine", "prechecks"]
TAIL_LINES = 120
# The failing task, printed again just above the final summary: CI keeps only the end of the output, and the
# end of a Molecule log is its destroy phase.
EXCERPT_LINES = 12
EXCERPT_WIDTH = 400
_FAILED_LINE = re.compile(r"^(fatal|failed): \[")
_TASK_STARTS = ("TASK [", "PLAY ", "RUNNING HANDLER")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GUTTER = re.compile(r"^\s*│ ?")
_WHY = re.compile(r"\[ERROR\]|^\s*(msg|assertion|stderr|fail_msg):|^(fatal|failed): \[")
HEARTBEAT_SECONDS = 60


def all_scenarios() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def longest_first(scenarios: list[str], durations: dict[str, float]) -> list[str]:
    def key(name: str) -> tuple[float, int]:
        hint = DEFAULT_ORDER.index(name) if name in DEFAULT_ORDER else len(DEFAULT_ORDER)
        return (-durations.get(name, 0.0), hint)
    return sorted(scenarios, key=key)


def load_durations() -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _plain(line: str) -> str:
    """A log line without colours and without Molecule's `  │ ` gutter."""
    return _GUTTER.sub("", _ANSI.sub("", line)).rstrip()


def failing_task(lines: list[str]) -> list[str]:
    """The TASK header of the last task that failed and was not ignored, its fatal line, and the lines of its
    result that say why ([ERROR], msg, assertion), each followed by the line it wraps onto."""
    lines = [_plain(line) for line in lines]
    failed_at = None
    for i, line in enumerate(lines):
        if _FAILED_LINE.match(line):
            block = []
            for later in lines[i + 1:]:
                if later.startswith(_TASK_STARTS):
                    break
                block.append(later)
            if "...ignoring" not in block:
                failed_at = i
    if failed_at is None:
        return []
    start = next((j for j in range(failed_at, -1, -1) if lines[j].startswith("TASK [")), failed_at)
    end = failed_at + 1
    while end < len(lines) and not lines[end].startswith(_TASK_STARTS):
        end += 1
    excerpt = [lines[start]] if start != failed_at else []
    excerpt.append(lines[failed_at])
    why = [j for j in range(failed_at + 1, end) if _WHY.search(lines[j])]
    for j in why:
        excerpt += [l for l in lines[j:j + 2] if l.strip() and l not in excerpt[-1:]]
    return [l if len(l) <= EXCERPT_WIDTH else l[:EXCERPT_WIDTH] + " ..." for l in excerpt[:EXCERPT_LINES]]


_OUTPUT = threading.Lock()


def log(message: str) -> None:
    # One write per line, under a lock: print() writes the text and the newline separately, so two
    # scenarios starting at once could share a line.
    with _OUTPUT:
        sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="scenarios run at once (default 2)")
    parser.add_argument("--retries", type=int, default=0,
                        help="run a failed scenario again up to N times; a pass after a failure is reported as flaky")
    parser.add_argument("scenarios", nargs="*", help="default: every scenario under molecule/")
    args = parser.parse_args(argv)
    known = all_scenarios()
    unknown = sorted(set(args.scenarios) - set(known))
    if unknown:
        parser.error("no such scenario: %s (known: %s)" % (", ".join(unknown), " ".join(known)))
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.retries < 0:
        parser.error("--retries must be 0 or more")

    LOGS.mkdir(parents=True, exist_ok=True)
    durations = load_durations()
    order = longest_first(args.scenarios or known, durations)
    running: dict[str, float] = {}
    results: dict[str, tuple[int, float]] = {}
    flaky: dict[str, list[str]] = {}
    lock = threading.Lock()
    log("molecule: %d scenario(s), %d at a time, in this order: %s" % (len(order), args.jobs, " ".join(order)))

    def run(name: str) -> None:
        path = LOGS / ("%s.log" % name)
        with lock:
            running[name] = time.monotonic()
        for attempt in range(args.retries + 1):
            log("start  %s (log: %s)" % (name, os.path.relpath(path, ROOT)))
            with path.open("w") as out:
                code = subprocess.call(["molecule", "test", "-s", name], cwd=ROOT, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if code == 0 or attempt == args.retries:
                break
            # Kept, and named in the summary: a scenario that passes only on its second run is flaky, not fine.
            kept = LOGS / ("%s.failed-%d.log" % (name, attempt + 1))
            path.replace(kept)
            excerpt = failing_task(kept.read_text(errors="replace").splitlines())
            log("FAILED (exit %d) %s, run it again (log kept: %s); the task that failed:\n%s"
                % (code, name, os.path.relpath(kept, ROOT), "\n".join(excerpt) or "(none found)"))
            with lock:
                flaky.setdefault(name, []).append(excerpt[0] if excerpt else "exit %d" % code)
        with lock:
            elapsed = time.monotonic() - running.pop(name)
            results[name] = (code, elapsed)
        log("%s %s in %d s" % ("passed" if code == 0 else "FAILED (exit %d)" % code, name, elapsed))

    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with lock:
                now = time.monotonic()
                busy = ", ".join("%s %dm%02ds" % (n, (now - t) // 60, (now - t) % 60) for n, t in running.items())
            if busy:
                log("still running: %s" % busy)

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run, order))
    stop.set()

    durations.update({n: round(t, 1) for n, (code, t) in results.items() if code == 0})
    DURATIONS.write_text(json.dumps(durations, indent=2, sort_keys=True) + "\n")
    failed = [n for n in order if results[n][0] != 0]
    for name in failed:
        lines = (LOGS / ("%s.log" % name)).read_text(errors="replace").splitlines()
        print("\n===== %s failed: last %d lines of %s =====" % (name, TAIL_LINES, LOGS / (name + ".log")))
        print("\n".join(lines[-TAIL_LINES:]), flush=True)
    for name in failed:
        excerpt = failing_task((LOGS / ("%s.log" % name)).read_text(errors="replace").splitlines())
        print("\n===== %s: the task that failed =====" % name)
        print("\n".join(excerpt) if excerpt else "(no failed Ansible task in the log: see its tail above)", flush=True)
    for name, tasks in sorted(flaky.items()):
        log("FLAKY %s: failed %d time(s) before its last run, at: %s" % (name, len(tasks), "; ".join(tasks)))

    def state(name: str) -> str:
        if results[name][0] != 0:
            return "FAILED"
        return "ok after %d failure(s)" % len(flaky[name]) if name in flaky else "ok"
    summary = ", ".join("%s %s %d s" % (n, state(n), results[n][1]) for n in order)
    log("molecule: %s" % summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
