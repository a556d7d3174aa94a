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


# --- Running the project's playbooks and reading this machine's stacks (bench_pipeline.py, bench_down_up.py) ---

import json
import re
import time
import urllib.request

PROJECT_LABEL = "io.devops-labs.project=devops-labs"
REGISTRY = "127.0.0.1:5001"
LOG_DIR = ROOT / "artifacts" / "bench"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
# profile_tasks summary line: "role : task name ------------------------ 12.34s"
PROFILE = re.compile(r"^(.*\S) -+ (\d+\.\d+)s\s*$")
# Plain output, and the slowest tasks at the end of every run.
PLAIN_PROFILED = {"ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true", "PY_COLORS": "0",
                  "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "15"}
# The Makefile prefixes ansible-playbook with PROFILE (profile_roles); a command-line variable overrides it.
MAKE_PROFILE = "PROFILE=ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks"


def load() -> float:
    return os.getloadavg()[0]


def run_logged(cmd: list[str], log: Path, label: str) -> dict:
    """Run cmd in the checkout with PLAIN_PROFILED, output to log; wall time, rc, PLAY RECAP, slowest tasks."""
    progress(f"{label}: {' '.join(cmd)} (load {load():.1f}), output in {log.relative_to(ROOT)}")
    log.parent.mkdir(parents=True, exist_ok=True)
    loads = [load()]
    started = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **PLAIN_PROFILED), text=True, errors="replace",
                              stdout=fh, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    loads.append(load())
    recap, slowest, in_recap, tasks = {}, [], False, 0
    for line in ANSI.sub("", log.read_text(errors="replace")).splitlines():
        tasks += line.startswith("TASK [")
        if line.startswith("PLAY RECAP"):
            in_recap = True
        elif in_recap and (m := RECAP.match(line.strip())):
            recap[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
        elif in_recap and (p := PROFILE.match(line.strip())) and not line.startswith("="):
            slowest.append((p.group(1), float(p.group(2))))
    result = {"seconds": seconds, "rc": proc.returncode, "recap": recap, "slowest": slowest, "log": log, "tasks": tasks,
              "loads": loads, "changed": sum(r["changed"] for r in recap.values()) if recap else -1,
              "failed": sum(r["failed"] for r in recap.values()) if recap else -1}
    progress(f"{label}: exit {proc.returncode} after {seconds:.1f} s, changed={result['changed']} (load {load():.1f})")
    return result


def slowest_text(result: dict, top: int = 5) -> str:
    """The run's task count, and its slowest tasks (profile_tasks) with what they add up to."""
    top_tasks = result["slowest"][:top]
    return (f"{result['tasks']} tasks in {result['seconds']:.1f} s, {result['seconds'] / max(result['tasks'], 1):.2f} s "
            f"per task on average; the {len(top_tasks)} slowest add up to {sum(s for _, s in top_tasks):.1f} s: "
            + ("; ".join(f"{t} {s:.1f} s" for t, s in top_tasks) or "no profile output"))


def containers() -> dict:
    """Every project container (throwaway bench-* ones excepted): id, start, state, health, image."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}"], check=True, text=True,
                         stdout=subprocess.PIPE).stdout.split()
    found = {}
    if ids:
        for c in json.loads(subprocess.run(["docker", "inspect", *ids], check=True, text=True,
                                           stdout=subprocess.PIPE).stdout):
            name = c["Name"].lstrip("/")
            if name.startswith("bench-"):
                continue
            found[name] = {"id": c["Id"], "started": c["State"].get("StartedAt"), "status": c["State"]["Status"],
                           "exit": c["State"].get("ExitCode"), "health": (c["State"].get("Health") or {}).get("Status"),
                           "image_id": c["Image"]}
    return found


def unwell(snap: dict) -> list[str]:
    """Containers neither running healthy (or without a healthcheck) nor a one-shot job that exited 0."""
    return [f"{n} {c['status']} {c['health']}" for n, c in sorted(snap.items())
            if not (c["status"] == "exited" and c["exit"] == 0)
            and (c["status"] != "running" or c["health"] not in (None, "healthy"))]


def recreated(before: dict, after: dict) -> list[str]:
    return sorted(n for n, c in after.items() if n not in before or before[n]["id"] != c["id"])


def other_runs() -> list[str]:
    """ansible-playbook runs of this machine's mount namespace (make up, a pipeline...) other than Molecule's:
    they drive this machine's stacks and images and would move them under a measurement."""
    busy, own_ns = [], os.readlink("/proc/self/ns/mnt")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "ansible-playbook" in cmd and os.readlink(f"/proc/{pid}/ns/mnt") == own_ns \
                    and "/molecule" not in cmd and "--syntax-check" not in cmd and "molecule" not in cmd:
                busy.append(f"{pid}: {cmd.split('ansible-playbook', 1)[1].strip()[:80]}")
        except (OSError, ValueError, IndexError):
            continue
    return busy


def wait_for_other_runs(timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while busy := other_runs():
        if time.monotonic() > deadline:
            raise SystemExit(f"another ansible-playbook run on this machine is still going: {busy}")
        progress(f"waiting for another ansible-playbook run on this machine to end ({'; '.join(busy[:2])})")
        time.sleep(15)


def http_get(url: str, auth: tuple[str, str] | None = None, timeout: float = 5, method: str = "GET",
             headers: dict | None = None):
    """(status, body bytes, headers) of one request; (0, error text, {}) when it cannot connect."""
    import base64
    import urllib.error
    req = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
    except OSError as exc:
        return 0, str(exc).encode(), {}


def secret(name: str) -> str:
    return (ROOT / ".secrets" / name).read_text().strip()


def fmt_s(seconds: float) -> str:
    """Seconds as '42.1 s' or '2 min 05 s'."""
    if seconds != seconds:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
