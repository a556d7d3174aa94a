#!/usr/bin/env python3
"""Student API over HTTP: requests/s and p50/p99 latency with wrk, the project's deployment vs the labs' way.

GET /supmit/api/v1.0/get_student_ages with HTTP basic auth, `wrk -t2 -c32 --latency` on a loopback port,
against two throwaway containers of the same image (--image, default labs/student_api:latest) holding the same
data (one shared volume, seeded by the image's launcher with the labs' six students):

- deployment: the image's own command (gunicorn, python -m student_api.serve) run as the student_app role runs it
  (container_stack hardening: read-only root, tmpfs /tmp, cap_drop ALL, no-new-privileges, pids 256; credentials
  as read-only files owned by uid 10001 through API_*_FILE; the role's default limits: 256m, 1.0 CPU);
- labs: the same code and data served the labs' way, Flask's development server with debug on
  (`app.run(debug=True, host="0.0.0.0")`, debugger and reloader included), same hardening and limits.

Runs alternate (deployment, labs, deployment, ...) so both see the same machine load; the container not being
measured is paused. Everything the script created is removed at the end, also on failure or Ctrl-C.
Targets (issue: student API performance): deployment >= 5x the labs' requests/s, and p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from common import ROOT, median, progress, write_section

sys.path.insert(0, str(ROOT / "module_utils"))
import labs_docker  # noqa: E402  (the project's Docker SDK access)

WRK = "/usr/bin/wrk"
PATH = "/supmit/api/v1.0/get_student_ages"
TARGET_RATIO = 5.0
TARGET_P99_MS = 20.0
APP_UID = 10001
LABEL = {"io.devops-labs.test": "bench"}
# What container_stack gives every container (roles/container_stack/defaults/main.yml), and the student_app
# role's defaults for the API (student_app_api_memory / student_app_api_cpus).
HARDENING = dict(read_only=True, tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                 pids_limit=256)
MEMORY = "256m"
CPUS = 1.0
# The labs' way, with the project's code: the launcher's preparation (metrics directory, data check), then
# Flask's development server in debug mode, as the labs' `if __name__ == "__main__": app.run(debug=True, ...)`.
LABS_COMMAND = [
    "/opt/venv/bin/python", "-c",
    "from student_api import serve\n"
    "from student_api.config import load_settings\n"
    "settings = load_settings()\n"
    "serve.prepare_metrics_dir()\n"
    "serve.prepare_data(settings)\n"
    "from student_api.app import create_app\n"
    "create_app(settings).run(debug=True, host='0.0.0.0', port=5000)\n",
]
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unknown wrk duration {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def cgroup_cpu(container_id: str) -> tuple[float, int] | None:
    """(CPU seconds used, CFS periods throttled) of a container, from its cgroup, or None.

    cgroup v1 (cgroupfs or systemd driver) or v2, as Docker lays them out on the host."""
    v1 = [(f"/sys/fs/cgroup/cpuacct/{d}/cpuacct.usage", f"/sys/fs/cgroup/cpu/{d}/cpu.stat")
          for d in (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope")]
    v2 = [f"/sys/fs/cgroup/{d}/cpu.stat" for d in (f"system.slice/docker-{container_id}.scope", f"docker/{container_id}")]
    try:
        for usage, stat_path in v1:
            if os.path.exists(usage):
                with open(usage) as fh:
                    seconds = int(fh.read()) / 1e9
                with open(stat_path) as fh:
                    stat = dict(line.split() for line in fh)
                return seconds, int(stat.get("nr_throttled", 0))
        for stat_path in v2:
            if os.path.exists(stat_path):
                with open(stat_path) as fh:
                    stat = dict(line.split() for line in fh)
                return int(stat["usage_usec"]) / 1e6, int(stat.get("nr_throttled", 0))
    except (OSError, ValueError, KeyError):
        pass
    return None


def parse_wrk(output: str) -> dict:
    """requests/s, p50/p99 (ms), request count, non-2xx/3xx answers and socket errors from `wrk --latency`."""
    result = {}
    match = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not match:
        raise RuntimeError(f"no Requests/sec in the wrk output:\n{output}")
    result["rps"] = float(match.group(1))
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", output, re.M)
        if not match:
            raise RuntimeError(f"no {pct}% latency in the wrk output (--latency):\n{output}")
        result[f"p{pct}"] = to_ms(match.group(1))
    match = re.search(r"^\s+(\d+) requests in", output, re.M)
    result["requests"] = int(match.group(1)) if match else 0
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = sum(map(int, match.groups())) if match else 0
    return result


class Bench:
    def __init__(self, client, args):
        self.client = client
        self.args = args
        self.prefix = f"bench-student-api-{os.getpid()}"
        self.volume = f"{self.prefix}-data"
        self.secrets_dir = tempfile.mkdtemp(prefix=f"{self.prefix}-")
        self.username = "student"
        self.password = secrets.token_urlsafe(24)
        self.containers: dict = {}
        self.ports: dict = {}
        self.volume_created = False

    def write_credentials(self) -> list:
        """The role's credential files: 0400, owned by the app's uid, bind-mounted read-only."""
        os.chmod(self.secrets_dir, 0o755)
        mounts = []
        for name, value in (("api_username", self.username), ("api_password", self.password)):
            path = os.path.join(self.secrets_dir, name)
            with open(path, "w") as fh:
                fh.write(value)
            os.chmod(path, 0o400)
            try:
                os.chown(path, APP_UID, APP_UID)
            except PermissionError:  # not root: the container can only read a world-readable file
                os.chmod(path, 0o444)
            mounts.append(f"{path}:/run/secrets/{name}:ro")
        return mounts

    def start(self, kind: str, mounts: list, command: list | None = None, env: dict | None = None) -> None:
        port = free_port()
        name = f"{self.prefix}-{kind}"
        progress(f"starting {name} ({self.args.image}) on 127.0.0.1:{port}")
        environment = {"API_USERNAME_FILE": "/run/secrets/api_username",
                       "API_PASSWORD_FILE": "/run/secrets/api_password"}
        environment.update(env or {})
        container = self.client.containers.run(
            self.args.image, command, name=name, detach=True, environment=environment,
            volumes=mounts + [f"{self.volume}:/data:rw"], ports={"5000/tcp": ("127.0.0.1", port)},
            mem_limit=MEMORY, nano_cpus=int(CPUS * 1e9), labels=LABEL, **HARDENING)
        self.containers[kind] = container
        self.ports[kind] = port
        self.wait_serving(kind)

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.ports[kind]}{PATH}"

    def wait_serving(self, kind: str, timeout: float = 60.0) -> None:
        container = self.containers[kind]
        auth = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(self.url(kind), headers={"Authorization": f"Basic {auth}"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    body = answer.read()
                if b"student_ages" in body:
                    return
            except (urllib.error.URLError, OSError):
                pass
            container.reload()
            if container.status != "running":
                raise RuntimeError(f"{container.name} stopped:\n" + container.logs(tail=30).decode(errors="replace"))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{container.name} not serving after {timeout:.0f} s:\n"
                                   + container.logs(tail=30).decode(errors="replace"))
            time.sleep(0.5)

    def wrk(self, kind: str, script: str, duration: int) -> dict:
        command = [WRK, f"-t{self.args.threads}", f"-c{self.args.connections}", f"-d{duration}s", "--latency",
                   "--timeout", "5s", "-s", script, self.url(kind)]
        before = cgroup_cpu(self.containers[kind].id)
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
        after = cgroup_cpu(self.containers[kind].id)
        if done.returncode != 0:
            raise RuntimeError(f"wrk exited {done.returncode}:\n{done.stdout}{done.stderr}")
        result = parse_wrk(done.stdout)
        # The server's own CPU per request (its cgroup): unlike req/s, hardly moved by the machine's load.
        result["cpu_us"] = float("nan")
        result["throttled"] = 0
        if before and after and result["requests"]:
            result["cpu_us"] = (after[0] - before[0]) / result["requests"] * 1e6
            result["throttled"] = after[1] - before[1]
        if result["non2xx"]:
            raise RuntimeError(f"{kind}: {result['non2xx']} answers were not 2xx/3xx:\n{done.stdout}")
        return result

    def cleanup(self) -> None:
        for container in self.containers.values():
            try:
                container.remove(force=True)
            except Exception as exc:  # keep cleaning up
                progress(f"cleanup: {container.name}: {exc}")
        if self.volume_created:
            try:
                self.client.volumes.get(self.volume).remove(force=True)
            except Exception as exc:
                progress(f"cleanup: volume {self.volume}: {exc}")
        shutil.rmtree(self.secrets_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="labs/student_api:latest", help="image of both servers")
    parser.add_argument("--runs", type=int, default=3, help="measured wrk runs per server, alternated")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unrecorded wrk before each run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of the deployment container (e.g. GUNICORN_WORKERS=1); "
                             "a run with any is not written to RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not touch bench/RESULTS.md")
    args = parser.parse_args()
    if not os.access(WRK, os.X_OK):
        print(f"{WRK} not found: apt-get install wrk", file=sys.stderr)
        return 2
    client = labs_docker.get_client(timeout=120)
    image_id = client.images.get(args.image).short_id  # fail early (ImageNotFound) before creating anything
    bench = Bench(client, args)
    results: dict[str, list[dict]] = {"deployment": [], "labs": []}
    loads = [os.getloadavg()[0]]
    server_line = ""
    try:
        mounts = bench.write_credentials()
        client.volumes.create(bench.volume, labels=LABEL)
        bench.volume_created = True
        # The deployment's launcher seeds the empty volume; the labs' server then reads the same file.
        bench.start("deployment", mounts, env=dict(e.split("=", 1) for e in args.env))
        bench.start("labs", mounts, command=LABS_COMMAND)
        logs = bench.containers["deployment"].logs().decode(errors="replace")
        match = re.search(r"starting gunicorn on port \d+: (.*)", logs)
        server_line = match.group(1).strip() if match else ""
        progress(f"deployment: {server_line or 'no gunicorn start line in its log'}")
        auth = base64.b64encode(f"{bench.username}:{bench.password}".encode()).decode()
        script = os.path.join(bench.secrets_dir, "auth.lua")
        with open(script, "w") as fh:
            fh.write(f'wrk.method = "GET"\nwrk.headers["Authorization"] = "Basic {auth}"\n')
        for kind in ("deployment", "labs"):
            bench.containers[kind].pause()
        for i in range(args.runs):
            for kind in ("deployment", "labs"):
                container = bench.containers[kind]
                container.unpause()
                try:
                    if args.warmup:
                        bench.wrk(kind, script, args.warmup)
                    result = bench.wrk(kind, script, args.duration)
                finally:
                    container.pause()
                results[kind].append(result)
                loads.append(os.getloadavg()[0])
                progress(f"{kind} {i + 1}/{args.runs}: {result['rps']:,.0f} req/s, p50 {result['p50']:.2f} ms, "
                         f"p99 {result['p99']:.2f} ms, {result['cpu_us']:.0f} us CPU/request, "
                         f"{result['throttled']} throttled periods, {result['requests']:,} requests, "
                         f"{result['socket_errors']} socket errors, load {loads[-1]:.1f}")
    finally:
        progress("removing the throwaway containers, volume and credential files")
        bench.cleanup()

    keys = ("rps", "p50", "p99", "cpu_us")
    med = {kind: {key: median([r[key] for r in runs]) for key in keys} for kind, runs in results.items()}
    for m in med.values():  # CPU actually used while serving: req/s x CPU per request
        m["cores"] = m["rps"] * m["cpu_us"] / 1e6
    dep, labs = med["deployment"], med["labs"]
    ratio = dep["rps"] / labs["rps"] if labs["rps"] else float("inf")
    lines = ["| server | runs | median req/s | min req/s | max req/s | median p50 (ms) | median p99 (ms) "
             "| CPU per request (us) | CPU used (cores) | errors |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    labels = {"deployment": f"deployment: gunicorn, as the student_app role runs it ({server_line or 'see log'})",
              "labs": "labs' way: Flask dev server, `app.run(debug=True)`"}
    for kind, runs in results.items():
        rps = [r["rps"] for r in runs]
        lines.append(f"| {labels[kind]} | {len(runs)} | {med[kind]['rps']:,.0f} | {min(rps):,.0f} | {max(rps):,.0f} "
                     f"| {med[kind]['p50']:.2f} | {med[kind]['p99']:.2f} | {med[kind]['cpu_us']:.0f} "
                     f"| {med[kind]['cores']:.2f} | {sum(r['socket_errors'] for r in runs)} |")
    p99 = dep["p99"]
    verdict_ratio = "met" if ratio >= TARGET_RATIO else (
        f"missed by {TARGET_RATIO - ratio:.1f}x ({TARGET_RATIO * labs['rps'] - dep['rps']:,.0f} req/s short)")
    verdict_p99 = "met" if p99 <= TARGET_P99_MS else f"missed by {p99 - TARGET_P99_MS:.1f} ms"
    cpu_ratio = labs["cpu_us"] / dep["cpu_us"] if dep["cpu_us"] else float("nan")
    lines += [
        "",
        f"- Requests/s, deployment vs the labs' way: {dep['rps']:,.0f} / {labs['rps']:,.0f} = "
        f"{ratio:.1f}x, target >= {TARGET_RATIO:.0f}x: {verdict_ratio}.",
        f"- p99 latency of the deployment: {p99:.2f} ms, target <= {TARGET_P99_MS:.0f} ms: {verdict_p99} "
        f"(the labs' way: {labs['p99']:.2f} ms).",
        f"- CPU per request, measured in each container's cgroup (moved much less by the machine's load than "
        f"req/s, though contention raises it too): {dep['cpu_us']:.0f} us vs {labs['cpu_us']:.0f} us, "
        f"{cpu_ratio:.1f}x less. Given its whole 1.0 CPU, the deployment's server alone could answer about "
        f"{1e6 / dep['cpu_us']:,.0f} req/s, the labs' way about {1e6 / labs['cpu_us']:,.0f} (wrk and docker-proxy "
        "need CPU of their own besides)." if dep["cpu_us"] == dep["cpu_us"] else
        "- CPU per request: not measured (no readable cgroup CPU accounting for the containers).",
        f"- CFS throttling (the 1.0-CPU limit enforced) during the measured runs: deployment "
        f"{sum(r['throttled'] for r in results['deployment'])} periods of 100 ms, labs' way "
        f"{sum(r['throttled'] for r in results['labs'])}.",
        f"- 1-minute load average of the machine during the runs: {min(loads):.1f} to {max(loads):.1f} on "
        f"{os.cpu_count()} cores (shared with other sessions).",
        "- Each run of the deployment (req/s, p99, load average after it): " + "; ".join(
            f"{r['rps']:,.0f}, {r['p99']:.1f} ms, {load:.1f}"
            for r, load in zip(results["deployment"], loads[1::2])) + ".",
    ]
    if ratio < TARGET_RATIO or p99 > TARGET_P99_MS:
        why = (f"- Why a target is missed: the deployment's container used {dep['cores']:.2f} CPU of its 1.0 while "
               "serving (req/s x CPU per request): it was mostly waiting, not working -- for a core, and for wrk and "
               f"docker-proxy, which need the same cores. With the load average up to {max(loads):.1f} on "
               f"{os.cpu_count()} cores every runnable thread queues behind others; that queueing is what the "
               f"latencies show (a request itself needs about {dep['cpu_us'] / 1000:.2f} ms of CPU), and it caps "
               "req/s far below what the CPU cost allows.")
        if ratio < TARGET_RATIO and cpu_ratio >= TARGET_RATIO:
            why += (f" The CPU cost ratio ({cpu_ratio:.1f}x) is above the {TARGET_RATIO:.0f}x target: on an idle "
                    "machine the requests/s ratio follows it.")
        lines.append(why)
    lines += [
        "",
        f"`wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency` (a Lua script sets the "
        f"Authorization header) on 127.0.0.1 through Docker's published port, {args.runs} runs per server after "
        f"{args.warmup} s of unrecorded warm-up each, alternated, the idle server paused; medians over the runs. "
        f"Image `{args.image}` ({image_id}), both containers {MEMORY} / {CPUS} CPU, read-only root, tmpfs /tmp, "
        "cap_drop ALL, no-new-privileges, pids 256, credentials as read-only files (API_*_FILE), one shared data "
        "volume with the labs' six students, Docker's default bridge network (the role uses a user network; a "
        "published port takes the same path). CPU per request = the container's cgroup CPU time over the run / "
        "requests answered.",
    ]
    table = "\n".join(lines)
    if args.env:
        progress("not written to RESULTS.md: --env changed the deployment")
    if args.no_write or args.env:
        print(table)
    else:
        print(write_section("student_api_http", table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
