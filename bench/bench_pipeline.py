#!/usr/bin/env python3
"""Pipeline: one-line change in one app -> rebuilt, pushed, redeployed, healthy; median of N changes.

Needs this machine as `make up` leaves it: the registry on 127.0.0.1:5001 and the stacks running.
Like molecule/registry/verify_pipeline.yml, the pipeline is pointed at a scratch copy of apps/
(`-e images_apps_dir=<copy>`), so the repository's apps/ is never edited. Steps:

1. copy apps/ to bench/.work/pipeline-<random>/apps and run `playbooks/pipeline.yml` on it once, not timed
   (settle: the copy is outside git, so the images' revision/created labels become "unknown" and every
   image is rebuilt once and every pipeline-deployed container recreated once);
2. run it again unchanged, timed: the "no change" figure (expected: changed=0, no image ID changed,
   nothing recreated);
3. --runs times: change one line of --app (a trailing comment of apps/<app>/<app>.py, different each time:
   the JSON contract is untouched), then time `ansible-playbook playbooks/pipeline.yml -i inventory/local
   -e images_apps_dir=<copy>` end to end, and check from docker inspect that only labs/<app>:latest got a new
   image ID, only the containers running that image were recreated (container ID / StartedAt), every project
   container is running and healthy, and the API pair still answers its contract;
4. always (also on failure or Ctrl-C): run the pipeline on the pristine apps/ so this machine ends running
   the repository's code, check the image IDs are those found at the start, and remove the copy.
Every run goes to artifacts/bench/pipeline-*.log with the ansible.posix.profile_tasks callback.
Target (issue: pipeline): <= 30 s from the change to healthy, only that image rebuilt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import ROOT, code_version, median, progress, write_section

TARGET_S = 30.0
PROJECT_LABEL = "io.devops-labs.project=devops-labs"
REGISTRY = "127.0.0.1:5001"
LOG_DIR = ROOT / "artifacts" / "bench"
WORK = ROOT / "bench" / ".work"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
PROFILE = re.compile(r"^(.*\S) -+ (\d+\.\d+)s\s*$")
REDEPLOYED = re.compile(r"redeployed: ([^;]*); unchanged: ([^'\"\n]*)")
HEALTH_TASK = "Check every container of the project runs and is healthy"
ONESHOT_FAIL = re.compile(r"^failed: \[[^\]]+\] \(item=/?([\w.-]+): Exited \(0\)")
# profile_tasks banner under each TASK line: "(0:00:04.401)" is the previous task's duration.
BANNER = re.compile(r"^\w+ \d+ \w+ \d{4}\s+[\d:]+ [+-]\d{4} \((\d+):(\d+):([\d.]+)\)\s+[\d:.]+ \*+\s*$")
BUILD_TASK = re.compile(r"^TASK \[images : Build the image through the cache: [^/]+/([^:\]]+)")
RUN_ENV = {"ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true", "PY_COLORS": "0",
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_HOME": str(ROOT / ".ansible"),
           "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "15"}
# The lab 003 pair's contract, checked after every run (the pipeline's own health stage checks it too).
CONTRACTS = [("http://127.0.0.1:8001/", {"body": "Je suis une r\u00e9ponse du backend"}),
             ("http://127.0.0.1:8000/", {"return": {"body": "Je suis une r\u00e9ponse du backend"}, "status": "[SUCESS]"}),
             ("http://127.0.0.1:8081/healthz", {"status": "ok"})]


def ansible_playbook() -> str:
    here = Path(sys.executable).parent / "ansible-playbook"
    return str(here if here.exists() else ROOT / ".venv" / "bin" / "ansible-playbook")


def apps_of(apps_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in apps_dir.glob("*/Dockerfile"))


def snapshot(apps: list[str]) -> dict:
    """Image ID of every labs/<app>:latest; ID, StartedAt, image and health of every project container."""
    images = {}
    for app in apps:
        out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", f"labs/{app}:latest"],
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        images[app] = out.stdout.strip() or None
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}"], check=True, text=True,
                         stdout=subprocess.PIPE).stdout.split()
    containers = {}
    if ids:
        for c in json.loads(subprocess.run(["docker", "inspect", *ids], check=True, text=True,
                                           stdout=subprocess.PIPE).stdout):
            containers[c["Name"].lstrip("/")] = {
                "id": c["Id"], "started": c["State"].get("StartedAt"), "status": c["State"]["Status"],
                "exit": c["State"].get("ExitCode"), "health": (c["State"].get("Health") or {}).get("Status"),
                "image_ref": c["Config"]["Image"], "image_id": c["Image"]}
    return {"images": images, "containers": containers}


def unhealthy(snap: dict) -> list[str]:
    bad = []
    for name, c in sorted(snap["containers"].items()):
        if c["status"] == "exited" and c["exit"] == 0:
            continue  # one-shot ETL stage
        if c["status"] != "running" or c["health"] not in (None, "healthy"):
            bad.append(f"{name} {c['status']} {c['health']}")
    return bad


def own_health_checks() -> list[str]:
    """What the pipeline's health stage checks after the container list: registry (anonymous: 401), UI, the pair."""
    problems = []
    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5)
    except urllib.error.HTTPError as exc:
        if exc.code != 401:  # 401: up, asks for credentials
            problems.append(f"registry: HTTP {exc.code}")
    except OSError as exc:
        problems.append(f"registry: {exc}")
    return problems + contracts_ok()


def contracts_ok() -> list[str]:
    problems = []
    for url, expected in CONTRACTS:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.loads(resp.read())
                if resp.status != 200 or (expected is not None and body != expected):
                    problems.append(f"{url}: {resp.status} {body}")
        except Exception as exc:  # noqa: BLE001 (any failure is the finding)
            problems.append(f"{url}: {exc}")
    return problems


def run_pipeline(label: str, log: Path, apps_dir: Path | None) -> dict:
    cmd = [ansible_playbook(), "playbooks/pipeline.yml", "-i", "inventory/local"]
    if apps_dir is not None:
        cmd += ["-e", f"images_apps_dir={apps_dir}"]
    progress(f"{label}: started ({' '.join(cmd[1:])}), output in {log.relative_to(ROOT)}")
    started = time.monotonic()
    result = {"built": [], "recap": {}, "slowest": [], "redeployed": None, "unchanged": None, "log": log,
              "tolerated": [], "other_failures": [], "tasks": 0, "timings": []}
    task, in_recap, pending, timed = "", False, None, None
    with open(log, "w") as fh, subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **RUN_ENV), text=True,
                                                 errors="replace", stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT) as proc:
        seen: set[str] = set()
        for raw in proc.stdout:
            if raw.startswith("TASK ["):  # cheap enough once per task
                seen.update(other_runs(proc.pid))
            fh.write(raw)
            line = ANSI.sub("", raw.rstrip("\n"))
            if (b := BANNER.match(line)) and timed is not None:
                h, mi, sec = b.groups()
                result["timings"].append((timed, int(h) * 3600 + int(mi) * 60 + float(sec)))
            if b:
                timed = None if in_recap else task[len("TASK ["):].rsplit("]", 1)[0]
            if line.startswith("TASK ["):
                task = line
                result["tasks"] += 1
            elif line.startswith(("failed:", "fatal:")):
                # Known project bug: the health stage requires every project container to be running, so
                # the ETL stack's one-shot stages (exited 0 by design) fail it once the ETL stack is up.
                m = ONESHOT_FAIL.match(line)
                if m and HEALTH_TASK in task:
                    result["tolerated"].append(m.group(1))
                else:
                    result["other_failures"].append(line)
            elif line.startswith("changed:") and (m := BUILD_TASK.match(task)):
                result["built"].append(m.group(1))
            elif line.startswith("PLAY RECAP"):
                in_recap = True
            # The deploy stage's "redeployed: ...; unchanged: ..." message (YAML may fold it over lines).
            if "redeployed: " in line and not line.startswith("TASK"):
                pending = line
            elif pending is not None:
                if line.strip() and not line.startswith(("TASK", "PLAY")):
                    pending += " " + line.strip()
                else:
                    if m := REDEPLOYED.search(pending):
                        result["redeployed"] = [x.strip() for x in m.group(1).split(",") if x.strip() not in ("", "nothing")]
                        result["unchanged"] = [x.strip() for x in m.group(2).split(",") if x.strip() not in ("", "nothing")]
                    pending = None
            if in_recap:
                if m := RECAP.match(line.strip()):
                    result["recap"][m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)),
                                                   "unreachable": int(m.group(4)), "failed": int(m.group(5))}
                elif (p := PROFILE.match(line.strip())) and not line.startswith("="):
                    result["slowest"].append((p.group(1), float(p.group(2))))
        result["rc"] = proc.wait()
        result["interference"] = sorted(seen)
        if seen:
            progress(f"{label}: WARNING another ansible-playbook run on this engine meanwhile ({'; '.join(sorted(seen))}): "
                     "it may have moved the labs/<app>:latest tags")
    # The health stage stopped at that bug before its registry and contract checks: do them here, timed.
    result["own_checks"] = own_health_checks()
    result["seconds"] = time.monotonic() - started
    result["changed"] = sum(r["changed"] for r in result["recap"].values()) if result["recap"] else -1
    progress(f"{label}: exit {result['rc']} after {result['seconds']:.1f} s; changed={result['changed']}, "
             f"image builds reported changed: {result['built'] or 'none'}, redeployed: {result['redeployed']}")
    failed = sum(r["failed"] for r in result["recap"].values()) if result["recap"] else -1
    result["known_bug"] = (result["rc"] == 2 and failed == 1 and result["tolerated"]
                           and not result["other_failures"])
    if result["known_bug"]:
        progress(f"{label}: ansible-playbook exited 2 only because its health stage requires the one-shot "
                 f"containers {', '.join(result['tolerated'])} (exited 0) to be running: tolerated, checked here")
    elif result["rc"] != 0:
        raise RuntimeError(f"{label}: ansible-playbook exited {result['rc']}; see {log}")
    if result["own_checks"]:
        raise RuntimeError(f"{label}: not healthy after the run: {result['own_checks']}")
    return result


def compare(before: dict, after: dict) -> dict:
    images_changed = sorted(a for a in after["images"] if after["images"][a] != before["images"].get(a))
    recreated, restarted = [], []
    for name, c in after["containers"].items():
        old = before["containers"].get(name)
        if old is None or old["id"] != c["id"]:
            recreated.append(name)
        elif old["started"] != c["started"] and c["status"] == "running":
            restarted.append(name)
    return {"images_changed": images_changed, "recreated": sorted(recreated), "restarted": sorted(restarted),
            "unhealthy": unhealthy(after), "contract": contracts_ok()}


def app_share(timings: list, app: str, containers: list[str]) -> tuple | None:
    """(tasks, seconds) naming the app or its containers, and (tasks, seconds) of the rest."""
    if not timings:
        return None
    pattern = re.compile(r"(?<![\w-])(%s)(?![\w-])" % "|".join(map(re.escape, [app, *containers])))
    mine = [x for t, x in timings if pattern.search(t)]
    rest = [x for t, x in timings if not pattern.search(t)]
    return len(mine), sum(mine), len(rest), sum(rest)


def containers_of(snap: dict, app: str) -> list[str]:
    refs = {f"labs/{app}:latest", f"{REGISTRY}/labs/{app}:latest"}
    return sorted(n for n, c in snap["containers"].items() if c["image_ref"] in refs and c["status"] == "running")


def edit(path: Path, marker: str, i: int) -> str:
    """Replace (or add) one trailing comment line: a different one-line change each run."""
    lines = path.read_text().splitlines()
    new = f"# {marker}: change {i} ({secrets.token_hex(4)}), a comment, the JSON contract is untouched"
    if lines and lines[-1].startswith(f"# {marker}:"):
        lines[-1] = new
    else:
        lines.append(new)
    path.write_text("\n".join(lines) + "\n")
    return new


def other_runs(mine: int | None = None) -> list[str]:
    """Other ansible-playbook runs that can move the labs/<app>:latest tags of this machine's Docker engine:
    any checkout (this one, a CI clone building molecule/resources/test_images.yml...), but not Molecule's
    converge/verify runs (their inventory is an instance), not processes inside containers (another mount
    namespace), not syntax checks, and not mine (pid and its forks)."""
    busy = []
    own_ns = os.readlink("/proc/self/ns/mnt")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "ansible-playbook" not in cmd:
                continue
            ns = os.readlink(f"/proc/{pid}/ns/mnt")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if mine is not None and mine in (int(pid), ppid):
            continue
        if ns == own_ns and "/molecule." not in cmd and "--syntax-check" not in cmd:
            busy.append(f"{pid}: {cmd.split('ansible-playbook', 1)[1].strip()[:80]}")
    return busy


def wait_for_host_runs(timeout: float) -> None:
    """Wait while another ansible-playbook run from this checkout (make up, images.yml, a pipeline...) drives
    this machine's images and containers: it would move the labs/<app>:latest tags under the measurement.
    Molecule's runs (their own instances) and processes inside containers (another cwd) do not count."""
    deadline = time.monotonic() + timeout
    while True:
        busy = other_runs()
        if not busy:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"another ansible-playbook run on this machine is still going (pids {busy})")
        progress(f"waiting for another ansible-playbook run on this machine's Docker engine to end ({'; '.join(busy[:3])})")
        time.sleep(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed one-line changes")
    parser.add_argument("--app", default="api_backend", help="the app changed (folder under apps/)")
    parser.add_argument("--file", default=None, help="file of the app changed (default <app>.py)")
    parser.add_argument("--wait", type=float, default=1800, help="seconds to wait for a running make up/pipeline")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch bench/RESULTS.md")
    args = parser.parse_args()

    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    apps = apps_of(ROOT / "apps")
    if args.app not in apps:
        parser.error(f"--app must be one of {apps}")
    target_file = args.file or f"{args.app}.py"
    wait_for_host_runs(args.wait)
    version = code_version()
    start = snapshot(apps)
    expected = containers_of(start, args.app)
    if not expected:
        raise SystemExit(f"no running container runs labs/{args.app}:latest: run `make up` first")
    if bad := unhealthy(start):
        raise SystemExit(f"the stacks are not healthy, run `make up` first: {bad}")
    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5)
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            raise SystemExit(f"registry {REGISTRY}: HTTP {exc.code}")
    except OSError as exc:
        raise SystemExit(f"no registry on {REGISTRY}: {exc}; run `make up` first")

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    scratch = WORK / f"pipeline-{secrets.token_hex(4)}"
    copy = scratch / "apps"
    runs, checks = [], []
    settle = nochange = restore = None
    restore_note = ""
    try:
        shutil.copytree(ROOT / "apps", copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        progress(f"apps/ copied to {copy.relative_to(ROOT)}; {args.app} runs in {', '.join(expected)}")
        settle = run_pipeline("settle (not timed)", LOG_DIR / f"pipeline-{stamp}-settle.log", copy)
        wait_for_host_runs(args.wait)
        before = snapshot(apps)
        nochange = run_pipeline("no change", LOG_DIR / f"pipeline-{stamp}-nochange.log", copy)
        nochange["check"] = compare(before, snapshot(apps))
        progress(f"no change: images changed {nochange['check']['images_changed'] or 'none'}, "
                 f"recreated {nochange['check']['recreated'] or 'none'}")
        for i in range(1, args.runs + 1):
            wait_for_host_runs(args.wait)
            before = snapshot(apps)
            line = edit(copy / args.app / target_file, "bench_pipeline", i)
            progress(f"change {i}/{args.runs}: apps/{args.app}/{target_file}: {line!r}")
            result = run_pipeline(f"change {i}/{args.runs}", LOG_DIR / f"pipeline-{stamp}-change{i}.log", copy)
            result["check"] = check = compare(before, snapshot(apps))
            # A tag this run did not build moved: another build on this engine (CI clone, tests) did it.
            check["foreign"] = sorted(set(check["images_changed"]) - set(result["built"]))
            check["only_app_image"] = check["images_changed"] == [args.app]
            check["only_its_containers"] = check["recreated"] == expected and not check["restarted"]
            check["healthy"] = not check["unhealthy"] and not check["contract"]
            if check["foreign"]:
                progress(f"change {i}/{args.runs}: WARNING labs/<app>:latest moved without this run building it: "
                         f"{check['foreign']} (another build on this Docker engine)")
            progress(f"change {i}/{args.runs}: {result['seconds']:.1f} s; images changed {check['images_changed']}, "
                     f"recreated {check['recreated']}, restarted {check['restarted'] or 'none'}, "
                     f"unhealthy {check['unhealthy'] or 'none'}, contract {check['contract'] or 'ok'}")
            runs.append(result)
            checks.append(check)
    finally:
        try:
            wait_for_host_runs(args.wait)
            restore = run_pipeline("restore (pristine apps/)", LOG_DIR / f"pipeline-{stamp}-restore.log", None)
            end = snapshot(apps)
            same = [a for a in apps if end["images"][a] == start["images"][a]]
            diff = [a for a in apps if end["images"][a] != start["images"][a]]
            restore_note = (f"Restored: the pipeline ran on the pristine apps/ ({restore['seconds']:.0f} s); this machine "
                            f"runs the repository's code again: {len(same)}/{len(apps)} labs/<app>:latest image IDs "
                            f"are those found at the start" + (f" (different: {', '.join(diff)})" if diff else "")
                            + (f"; not healthy: {unhealthy(end)}" if unhealthy(end) else "; every container healthy")
                            + ".")
            progress(restore_note)
        except Exception as exc:  # noqa: BLE001 (reported, the copy is still removed)
            restore_note = f"RESTORE FAILED ({exc}): run `ansible-playbook playbooks/pipeline.yml` by hand."
            progress(restore_note)
        shutil.rmtree(scratch, ignore_errors=True)

    secs = [r["seconds"] for r in runs]
    m = median(secs)
    all_only = all(c["only_app_image"] for c in checks)
    all_containers = all(c["only_its_containers"] for c in checks)
    all_healthy = all(c["healthy"] for c in checks)
    time_verdict = "met" if m <= TARGET_S else f"missed by {m - TARGET_S:.1f} s"
    lines = ["| run | runs | median (s) | min (s) | max (s) | PLAY RECAP changed | image IDs changed | containers recreated | healthy | target | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    nc = nochange["check"]
    nochange_verdict = ("met" if not nc["images_changed"] and not nc["recreated"] else
                        f"missed: {', '.join(nc['images_changed']) or 'no image'} changed, "
                        f"{', '.join(nc['recreated']) or 'nothing'} recreated")
    lines.append(f"| no change (after settling) | 1 | {nochange['seconds']:.1f} | - | - | {nochange['changed']} | "
                 f"{', '.join(nc['images_changed']) or 'none'} | {', '.join(nc['recreated']) or 'none'} | "
                 f"{'yes' if not nc['unhealthy'] and not nc['contract'] else 'no'} | nothing rebuilt | "
                 f"{nochange_verdict} |")
    images_seen = sorted({a for c in checks for a in c["images_changed"]})
    recreated_seen = sorted({n for c in checks for n in c["recreated"]})
    lines.append(f"| one-line change in {args.app} | {len(runs)} | {m:.1f} | {min(secs):.1f} | {max(secs):.1f} | "
                 f"{', '.join(str(r['changed']) for r in runs)} | {', '.join(images_seen) or 'none'} | "
                 f"{', '.join(recreated_seen) or 'none'} | {'yes' if all_healthy else 'no'} | <= {TARGET_S:.0f} s, only "
                 f"that image | {time_verdict}; only that image: {'yes' if all_only else 'no'} |")
    verdicts = [
        f"- One-line change in apps/{args.app}/{target_file} -> rebuilt, pushed, redeployed, healthy: {m:.1f} s "
        f"(median of {len(runs)}), target <= {TARGET_S:.0f} s: {time_verdict}.",
        f"- Only labs/{args.app} got a new image ID in {sum(c['only_app_image'] for c in checks)}/{len(checks)} runs; "
        f"only {', '.join(expected)} recreated (others neither recreated nor restarted) in "
        f"{sum(c['only_its_containers'] for c in checks)}/{len(checks)}; every project container healthy and the "
        f"API pair's contract intact in {sum(c['healthy'] for c in checks)}/{len(checks)}.",
        f"- No change: {nochange['seconds']:.1f} s, changed={nochange['changed']}, image IDs changed: "
        f"{', '.join(nc['images_changed']) or 'none'}, recreated: {', '.join(nc['recreated']) or 'none'}.",
    ]
    disturbed = [r for r in runs if r.get("interference") or r["check"].get("foreign")]
    if disturbed or (nochange and nochange.get("interference")):
        verdicts.append(f"- Interference: another `ansible-playbook` run on this machine's Docker engine (not Molecule's) "
                        f"was seen during {len(disturbed)}/{len(runs)} change runs"
                        + (" and the no-change run" if nochange.get("interference") else "")
                        + "; their image/container comparisons may show its changes too"
                        + (" (tags moved without this run building them: "
                           + ", ".join(sorted({a for r in runs for a in r["check"].get("foreign", [])})) + ")"
                           if any(r["check"].get("foreign") for r in runs) else "") + ".")
    bugged = [r for r in [settle, nochange, *runs, restore] if r and r.get("known_bug")]
    if bugged:
        names = sorted({n for r in bugged for n in r["tolerated"]})
        verdicts.append(
            f"- Project bug: `playbooks/pipeline.yml` exited 2 in {len(bugged)}/{len([settle, nochange, *runs, restore])} "
            "runs on this host: its health stage (`Check every container of the project runs and is healthy`) asserts "
            f"State == running for every project container, including the ETL stack's one-shot stages ({', '.join(names)}: "
            "exited 0 by design). The benchmark tolerates exactly that failure and runs the checks the stage then skips "
            "(registry 401 without credentials, UI /healthz, both API pair contracts) itself, inside the timed window.")
    if runs and runs[-1]["slowest"]:
        total = runs[-1]["seconds"]
        top = runs[-1]["slowest"][:5]
        own = app_share(runs[-1]["timings"], args.app, expected)
        if own:
            verdicts.append(f"- The changed app's own work in the last change run ({own[0]} tasks naming {args.app} or "
                            f"{', '.join(expected)}: build, tag, push, recreate, wait healthy) took {own[1]:.0f} s; the other "
                            f"{own[2]} tasks, {own[3]:.0f} s, are the pipeline re-checking everything else: every app "
                            "built through the cache, tagged and pushed again, the registry, API pair and student playbooks "
                            "re-applied in full, health checks.")
        listed = sum(x for _, x in runs[-1]["slowest"])
        verdicts.append(f"- Where the time goes (last change run, {total:.0f} s, {runs[-1]['tasks']} tasks, "
                        f"{total / max(runs[-1]['tasks'], 1):.2f} s per task on average): the {len(runs[-1]['slowest'])} "
                        f"slowest tasks add up to {listed:.0f} s, the rest is the per-task cost of the others; slowest: "
                        + "; ".join(f"{t} {s:.1f} s" for t, s in top) + ".")
    verdicts.append(f"- Settling the scratch copy (not timed): {settle['seconds']:.0f} s, builds reported changed: "
                    f"{', '.join(settle['built']) or 'none'} (the copy has no git history, so the revision/created "
                    "labels change once).")
    detail = ["| run | s | tasks | changed | built by this run | image IDs changed | moved by another build | "
              "containers recreated | other runs on the engine |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in [("no change", nochange)] + [(f"change {i}", r) for i, r in enumerate(runs, 1)]:
        c = r["check"]
        foreign = sorted(set(c["images_changed"]) - set(r["built"]))
        detail.append(f"| {label} | {r['seconds']:.1f} | {r['tasks']} | {r['changed']} | {', '.join(r['built']) or 'none'} | "
                      f"{', '.join(c['images_changed']) or 'none'} | {', '.join(foreign) or 'none'} | "
                      f"{', '.join(c['recreated']) or 'none'} | {len(r.get('interference', []))} |")
    body = lines + [""] + detail + [""] + verdicts + [
        "", f"Timed: `ansible-playbook playbooks/pipeline.yml -i inventory/local -e images_apps_dir=<scratch copy of apps/>` "
        "end to end (build every app through the cache and push, check the registry's digests, re-apply the registry, "
        "API pair and student playbooks, health checks), right after a one-line change (a trailing comment, different "
        f"each run) in the copy's {args.app}/{target_file}, code at {version}. Image IDs of every labs/<app>:latest and the ID/StartedAt of "
        "every project container compared with docker inspect before and after each run.", "", restore_note]
    if runs and runs[-1]["slowest"]:
        body += ["", "Slowest tasks of the last change run (ansible.posix.profile_tasks):", "",
                 "| # | task | s |", "| --- | --- | --- |"]
        body += [f"| {i} | {t.replace('|', '/')} | {s:.2f} |" for i, (t, s) in enumerate(runs[-1]["slowest"][:10], 1)]
    body += ["", "Logs: " + ", ".join(f"`{r['log'].relative_to(ROOT)}`"
                                      for r in [settle, nochange, *runs, restore] if r) + "."]
    text = "\n".join(body)
    print(text if args.no_write else write_section("pipeline", text))
    ok = runs and all_only and all_containers and all_healthy and restore is not None
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
