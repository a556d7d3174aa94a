#!/usr/bin/env python3
"""Frontend/backend: time from GET /traceback to serving again, median of N crashes per container.

Needs the api_pair stack running on this machine (make up, or ansible-playbook playbooks/api_pair.yml).
Uses the project's own container_recovery logic (library/container_recovery.py). Crashes are spaced by
more than 10 s after each recovery: Docker doubles its restart delay for a container that dies within 10 s of
starting, which would measure Docker's back-off instead of the app. Target (issue 9): median <= 2 s.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import ROOT, median, progress, write_section

sys.path.insert(0, str(ROOT / "library"))
import ansible.module_utils  # noqa: E402  (the modules import their shared code from here)

ansible.module_utils.__path__.append(str(ROOT / "module_utils"))
import container_recovery  # noqa: E402
from ansible.module_utils import labs_docker  # noqa: E402

TARGET_S = 2.0
CONTAINERS = [("api-backend", 8001, "api_backend.py"), ("api-frontend", 8000, "api_frontend.py")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--spacing", type=float, default=12.0,
                        help="seconds a container runs after recovering before the next crash (Docker resets its back-off after 10 s)")
    args = parser.parse_args()
    client = labs_docker.get_client()
    rows = []
    for name, port, pid1 in CONTAINERS:
        times = []
        for i in range(args.runs):
            result = container_recovery.recover(client, {
                "name": name, "crash_url": f"http://127.0.0.1:{port}/traceback", "crash_method": "GET",
                "signal": None, "expected_pid1": pid1, "health_url": f"http://127.0.0.1:{port}/",
                "health_status": 200, "validate_certs": True, "ca_path": None, "timeout": 60.0,
                "docker_host": labs_docker.DEFAULT_DOCKER_HOST,
            })
            times.append(result["recovery_seconds"])
            progress(f"{name}: crash {i + 1}/{args.runs}: serving again after {result['recovery_seconds']:.2f} s")
            # Let the container run long enough that Docker resets its restart back-off.
            time.sleep(args.spacing)
        rows.append((name, times))
    lines = ["| container | crashes | median (s) | min (s) | max (s) | target | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, times in rows:
        m = median(times)
        verdict = "met" if m <= TARGET_S else f"missed by {m - TARGET_S:.2f} s"
        lines.append(f"| {name} | {len(times)} | {m:.2f} | {min(times):.2f} | {max(times):.2f} | <= {TARGET_S} s | {verdict} |")
    lines.append("")
    lines.append("From `GET /traceback` (PID 1 exits 1) until `GET /` answers 200 again: Docker's restart "
                 f"(policy always) plus the app's start. Each crash {args.spacing:.0f} s after the previous recovery.")
    print(write_section("recovery", "\n".join(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
