#!/usr/bin/env python3
"""`make down` then `make up`: the time of each and of the pair, and every stack's data identical after it.

Needs this machine as `make up` leaves it (every stack up and healthy). Runs `make down` (volumes kept), then
`make up` (with the ansible.posix.profile_tasks callback), each timed end to end, and reads before and after:
- the student stack's file: GET /supmit/api/v1.0/get_student_ages as `student` (.secrets/student_api_password),
  the body compared byte for byte;
- the ETL stack's PostgreSQL: row counts of school.grades and reporting.grade_facts (psql in etl-postgres);
- the registry: the manifest digest of every labs/* repository's latest tag (127.0.0.1:5001, user labs,
  .secrets/registry_password).
If `make up` fails, it is run once more (not timed) so the stacks are never left down.
Target (issue #14): down + up <= 90 s, every stack's data identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time

from common import (LOG_DIR, MAKE_PROFILE, REGISTRY, ROOT, code_version, containers, http_get, load, progress,
                    run_logged, secret, slowest_text, unwell, wait_for_other_runs, write_section)

TARGET_S = 90.0
STUDENT_URL = "http://127.0.0.1:5000/supmit/api/v1.0/get_student_ages"
TABLES = ["school.grades", "reporting.grade_facts"]
MANIFESTS = ", ".join(["application/vnd.docker.distribution.manifest.v2+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"])


def data() -> dict:
    """What each stack holds: student body (status, sha256, length), row counts, registry digests."""
    status, body, _ = http_get(STUDENT_URL, auth=("student", secret("student_api_password")))
    found = {"student": f"HTTP {status}, {len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()[:16]}"}
    for table in TABLES:
        out = subprocess.run(["docker", "exec", "etl-postgres", "psql", "-U", "postgres", "-d", "school", "-tAc",
                              f"select count(*) from {table}"], text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        found[table] = out.stdout.strip() if out.returncode == 0 else f"error: {out.stdout.strip()[:80]}"
    auth = ("labs", secret("registry_password"))
    status, body, _ = http_get(f"http://{REGISTRY}/v2/_catalog?n=1000", auth=auth)
    repos = sorted(r for r in json.loads(body).get("repositories", []) if r.startswith("labs/")) if status == 200 else []
    if status != 200:
        found["registry"] = f"catalog: HTTP {status}"
    for repo in repos:
        status, _, headers = http_get(f"http://{REGISTRY}/v2/{repo}/manifests/latest", auth=auth, method="HEAD",
                                      headers={"Accept": MANIFESTS})
        found[f"{repo}:latest"] = headers.get("Docker-Content-Digest", f"HTTP {status}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch bench/RESULTS.md")
    args = parser.parse_args()
    wait_for_other_runs()
    bad = unwell(containers())
    if bad:
        raise SystemExit(f"the stacks are not all up and healthy ({bad}): run make up first")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    version = code_version()
    before = data()
    progress(f"before: {before}")
    down = run_logged(["make", "down"], LOG_DIR / f"down_up-{stamp}-down.log", "make down")
    left = [n for n, c in containers().items() if c["status"] == "running"]
    up = run_logged(["make", "up", MAKE_PROFILE], LOG_DIR / f"down_up-{stamp}-up.log", "make up")
    if up["rc"] != 0:
        progress("make up failed: running it once more (not timed) so the stacks are not left down")
        run_logged(["make", "up"], LOG_DIR / f"down_up-{stamp}-up-retry.log", "make up (retry)")
    after = data()
    progress(f"after: {after}")
    bad = unwell(containers())
    pair = down["seconds"] + up["seconds"]
    same = [k for k in before if after.get(k) == before[k]]
    differ = [k for k in sorted(set(before) | set(after)) if after.get(k) != before.get(k)]
    ok = down["rc"] == 0 and up["rc"] == 0 and not bad
    verdict = ("met" if pair <= TARGET_S else f"missed by {pair - TARGET_S:.1f} s") if ok else "a run failed"
    lines = [
        "| step | s | load before/after | exit | changed (PLAY RECAP) |",
        "| --- | --- | --- | --- | --- |",
        f"| `make down` | {down['seconds']:.1f} | {down['loads'][0]:.1f} / {down['loads'][-1]:.1f} | {down['rc']} | {down['changed']} |",
        f"| `make up` | {up['seconds']:.1f} | {up['loads'][0]:.1f} / {up['loads'][-1]:.1f} | {up['rc']} | {up['changed']} |",
        f"| pair | {pair:.1f} | | | |",
        "",
        "| data | before | after | same |",
        "| --- | --- | --- | --- |",
    ]
    for key in sorted(set(before) | set(after)):
        lines.append(f"| {key} | {before.get(key, '-')} | {after.get(key, '-')} | "
                     f"{'yes' if key in same else '**no**'} |")
    lines += [
        "",
        f"- `make down` + `make up`: {pair:.1f} s ({down['seconds']:.1f} + {up['seconds']:.1f}), target <= "
        f"{TARGET_S:.0f} s: {verdict}. A single pair, not a median (each pair recreates every container).",
        f"- Data identical after it: {'yes' if not differ else 'no: ' + ', '.join(differ)} "
        f"({len(same)}/{len(set(before) | set(after))} items: the student file, {len(TABLES)} row counts, "
        f"{sum(1 for k in before if k.startswith('labs/'))} registry digests).",
        f"- Project containers still running after `make down`: {', '.join(left) or 'none'}; unwell after "
        f"`make up`: {', '.join(bad) or 'none'}.",
        f"- 1-minute load average: {min(down['loads'] + up['loads']):.1f} to {max(down['loads'] + up['loads']):.1f} "
        "on 2 cores (shared with other sessions' Molecule scenarios).",
    ]
    if pair > TARGET_S:
        lines.append(f"- Where the time went (ansible.posix.profile_tasks): down: {slowest_text(down, 4)}; "
                     f"up: {slowest_text(up, 6)}.")
    lines += [f"- Code: {version}.", "",
              f"Logs: `{down['log'].relative_to(ROOT)}`, `{up['log'].relative_to(ROOT)}`."]
    text = "\n".join(lines)
    print(text if args.no_write else write_section("down_up", text))
    return 0 if ok and not differ else 1


if __name__ == "__main__":
    sys.exit(main())
