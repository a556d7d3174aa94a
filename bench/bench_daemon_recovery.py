#!/usr/bin/env python3
"""Whole stacks back healthy after dockerd is SIGKILLed and after a reboot: median seconds of N runs.

Everything destructive happens INSIDE a Molecule instance, never to this machine's engine: the instance of
molecule/resilience with its stacks up (`molecule converge -s resilience`, left running; or the instance of
molecule/site). Each run kills dockerd in the instance (systemd restarts it) or stops and starts the instance
from outside (a reboot: systemd boots, docker starts at boot), then times until every service of the project
is running and healthy again, with no Ansible in between. Without a running instance it says so and exits 0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import median, progress, write_section

TARGET_S = 60.0
PROJECT_LABEL = "io.devops-labs.project=devops-labs"


def in_instance(instance: str, *argv: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", instance, *argv], text=True, capture_output=True, check=check)


def statuses(instance: str) -> dict[str, str]:
    out = in_instance(instance, "docker", "ps", "-a", "--filter", "label=" + PROJECT_LABEL,
                      "--format", "{{.Names}}\t{{.Status}}")
    if out.returncode != 0:
        return {}
    return dict(line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)


def wait_healthy(instance: str, services: list[str], start: float, limit: float) -> float | None:
    while time.monotonic() - start < limit:
        now = statuses(instance)
        if all("(healthy)" in now.get(name, "") for name in services):
            return time.monotonic() - start
        time.sleep(0.5)
    return None


def kill_dockerd(instance: str) -> None:
    in_instance(instance, "pkill", "--signal", "KILL", "--exact", "dockerd", check=True)


def reboot(instance: str) -> None:
    subprocess.run(["docker", "stop", instance], check=True, capture_output=True)
    subprocess.run(["docker", "start", instance], check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="molecule-resilience", help="a running Molecule instance with the stacks up")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spacing", type=float, default=25.0,
                        help="seconds between a recovery and the next kill (Debian's docker.service allows 3 starts in 60 s)")
    parser.add_argument("--limit", type=float, default=180.0, help="give up on one run after this many seconds")
    args = parser.parse_args()
    running = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", args.instance],
                             text=True, capture_output=True)
    if running.stdout.strip() != "true":
        print(f"skipped: no running instance {args.instance} (molecule converge -s resilience first); "
              "this benchmark never kills this machine's own engine")
        return 0
    services = sorted(name for name, status in statuses(args.instance).items() if "(healthy)" in status)
    if not services:
        print(f"skipped: no healthy service of the project in {args.instance}")
        return 0
    progress(f"{args.instance}: {len(services)} services: {', '.join(services)}")
    rows = []
    for label, action in [("dockerd SIGKILL (systemd restarts it)", kill_dockerd), ("instance reboot (docker stop/start)", reboot)]:
        times, failures = [], 0
        for i in range(args.runs):
            start = time.monotonic()
            action(args.instance)
            took = wait_healthy(args.instance, services, start, args.limit)
            if took is None:
                failures += 1
                progress(f"{label}: run {i + 1}/{args.runs}: NOT healthy after {args.limit:.0f} s: {statuses(args.instance)}")
                wait_healthy(args.instance, services, time.monotonic(), args.limit)
            else:
                times.append(took)
                progress(f"{label}: run {i + 1}/{args.runs}: {len(services)} services healthy after {took:.1f} s")
            time.sleep(args.spacing)
        rows.append((label, times, failures))
    lines = ["| event | runs | services | median (s) | min (s) | max (s) | not back | target | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, times, failures in rows:
        m = median(times)
        verdict = "met" if times and m <= TARGET_S and not failures else "missed"
        lines.append(f"| {label} | {len(times) + failures} | {len(services)} | {m:.1f} | "
                     f"{min(times, default=float('nan')):.1f} | {max(times, default=float('nan')):.1f} | {failures} | "
                     f"<= {TARGET_S:.0f} s | {verdict} |")
    lines.append("")
    lines.append(f"Instance {args.instance} (Debian 12, docker.io 20.10 under systemd, services with `restart: always`): "
                 "from the kill, or from `docker stop`, until every service of the project reports healthy, with no "
                 f"Ansible run. Runs {args.spacing:.0f} s apart. Services: {', '.join(services)}.")
    print(write_section("daemon_recovery", "\n".join(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
