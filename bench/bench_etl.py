#!/usr/bin/env python3
"""ETL load: rows/s into reporting.grade_facts, COPY fast path vs naive row-by-row INSERT, median of N runs.

Starts its own throwaway stack on this machine's Docker engine (labs/postgres seeded with --rows grade rows,
2 GiB / 2 CPUs as apps/etl/README.md advises for 1M-row loads, on a private internal network; labs/etl stages
hardened as in the etl_stack role), runs extract and transform once, then the load stage --runs times per mode,
alternating copy and naive so both see the same machine load. Each load replaces the table in one transaction
(TRUNCATE + COPY FREEZE, or one INSERT per row); the figure is the stage's own database timing
(`database loaded ... rows_per_second=`, the COPY or the INSERT loop alone, files off with ETL_LOAD_FILES=false).
Everything it created is removed at the end, also on failure or Ctrl-C.
Targets (issue: ETL stack): COPY >= 200k rows/s and >= 10x the naive mode.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import time

from common import ROOT, median, progress, write_section

sys.path.insert(0, str(ROOT / "module_utils"))
import labs_docker  # noqa: E402  (the project's Docker SDK access)

TARGET_ROWS_S = 200_000
TARGET_RATIO = 10.0
DB_LINE = re.compile(r"database loaded .*?mode=(\w+) rows=(\d+) seconds=([\d.]+) rows_per_second=(\d+)")
HARDENING = dict(read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"], pids_limit=256)


class Bench:
    def __init__(self, client, args):
        self.client = client
        self.args = args
        self.prefix = f"bench-etl-{os.getpid()}"
        self.network = f"{self.prefix}-db"
        self.volumes = {k: f"{self.prefix}-{k}" for k in ("pgdata", "work", "output")}
        self.passwords = {k: secrets.token_urlsafe(24) for k in ("owner", "reader", "writer")}
        self.containers: list = []

    def setup(self) -> None:
        self.client.networks.create(self.network, internal=True, labels={"io.devops-labs.bench": "etl"})
        for name in self.volumes.values():
            self.client.volumes.create(name, labels={"io.devops-labs.bench": "etl"})
        progress(f"starting PostgreSQL ({self.args.postgres_image}), seeding {self.args.rows} grade rows")
        started = time.monotonic()
        # Throwaway database: passwords by environment (the role gives them as files).
        pg = self.client.containers.run(
            self.args.postgres_image, name=f"{self.prefix}-postgres", detach=True, network=self.network,
            environment={"SEED_ROWS": str(self.args.rows), "POSTGRES_PASSWORD": self.passwords["owner"],
                         "ETL_READER_PASSWORD": self.passwords["reader"],
                         "ETL_WRITER_PASSWORD": self.passwords["writer"]},
            volumes={self.volumes["pgdata"]: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
            tmpfs={"/tmp": "", "/var/run/postgresql": "uid=999,gid=999"},
            mem_limit="2g", nano_cpus=int(2e9), shm_size="256m", **HARDENING)
        self.containers.append(pg)
        deadline = time.monotonic() + self.args.seed_timeout
        while True:
            pg.reload()
            health = pg.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy":
                break
            if pg.status != "running":
                raise RuntimeError("PostgreSQL stopped:\n" + pg.logs(tail=30).decode(errors="replace"))
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not healthy after {self.args.seed_timeout} s")
            time.sleep(2)
        progress(f"PostgreSQL seeded and healthy after {time.monotonic() - started:.0f} s")
        self.pg_name = pg.name

    def stage(self, command: str, env: dict | None = None) -> str:
        """Run one ETL stage to completion; its log on success, an exception with the log otherwise."""
        password = {"extract": self.passwords["reader"], "load": self.passwords["writer"]}.get(command)
        environment = {"ETL_DB_HOST": self.pg_name, "ETL_METRICS_DIR": ""}
        if password:
            environment["ETL_DB_PASSWORD"] = password
        environment.update(env or {})
        container = self.client.containers.run(
            self.args.etl_image, [command], name=f"{self.prefix}-{command}-{len(self.containers)}", detach=True,
            network=self.network if password else None, network_mode=None if password else "none",
            environment=environment,
            volumes={self.volumes["work"]: {"bind": "/data/work", "mode": "rw"},
                     self.volumes["output"]: {"bind": "/data/output", "mode": "rw"}},
            tmpfs={"/tmp": ""}, mem_limit="512m", nano_cpus=int(1e9), **HARDENING)
        self.containers.append(container)
        status = container.wait()["StatusCode"]
        log = container.logs().decode(errors="replace")
        if status != 0:
            raise RuntimeError(f"stage {command} exited {status}:\n{log}")
        return log

    def load(self, mode: str) -> tuple[int, float, float]:
        log = self.stage("load", {"ETL_LOAD_MODE": mode, "ETL_LOAD_FILES": "false"})
        match = DB_LINE.search(log)
        if not match or match.group(1) != mode:
            raise RuntimeError(f"no database timing for mode {mode} in the load log:\n{log}")
        return int(match.group(2)), float(match.group(3)), float(match.group(4))

    def cleanup(self) -> None:
        for container in reversed(self.containers):
            try:
                container.remove(force=True)
            except Exception as exc:  # keep cleaning up
                progress(f"cleanup: {container.name}: {exc}")
        for name in self.volumes.values():
            try:
                self.client.volumes.get(name).remove(force=True)
            except Exception as exc:
                progress(f"cleanup: volume {name}: {exc}")
        try:
            self.client.networks.get(self.network).remove()
        except Exception as exc:
            progress(f"cleanup: network {self.network}: {exc}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="grade rows seeded (about 97 %% are valid and loaded)")
    parser.add_argument("--runs", type=int, default=3, help="load runs per mode")
    parser.add_argument("--postgres-image", default="labs/postgres:latest")
    parser.add_argument("--etl-image", default="labs/etl:latest")
    parser.add_argument("--seed-timeout", type=int, default=900, help="seconds PostgreSQL may take to seed")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not touch bench/RESULTS.md")
    args = parser.parse_args()
    client = labs_docker.get_client(timeout=600)
    bench = Bench(client, args)
    results: dict[str, list[tuple[int, float, float]]] = {"copy": [], "naive": []}
    loads = [os.getloadavg()[0]]  # the machine's 1-minute load average: at start, then after each load run
    try:
        bench.setup()
        for command in ("extract", "transform"):
            started = time.monotonic()
            bench.stage(command)
            progress(f"{command}: done in {time.monotonic() - started:.1f} s")
        for i in range(args.runs):
            for mode in ("copy", "naive"):
                rows, seconds, rate = bench.load(mode)
                results[mode].append((rows, seconds, rate))
                loads.append(os.getloadavg()[0])
                progress(f"load {mode} {i + 1}/{args.runs}: {rows} rows in {seconds:.2f} s = {rate:,.0f} rows/s")
    finally:
        progress("removing the throwaway containers, volumes and network")
        bench.cleanup()

    rows = results["copy"][0][0]
    copy_rate = median([r[2] for r in results["copy"]])
    naive_rate = median([r[2] for r in results["naive"]])
    ratio = copy_rate / naive_rate if naive_rate else float("inf")
    lines = ["| load mode | rows | runs | median rows/s | min rows/s | max rows/s | median seconds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for mode in ("copy", "naive"):
        rates = [r[2] for r in results[mode]]
        lines.append(f"| {mode} | {rows:,} | {len(rates)} | {median(rates):,.0f} | {min(rates):,.0f} | {max(rates):,.0f} "
                     f"| {median([r[1] for r in results[mode]]):.2f} |")
    verdict_rate = "met" if copy_rate >= TARGET_ROWS_S else f"missed by {TARGET_ROWS_S - copy_rate:,.0f} rows/s"
    verdict_ratio = "met" if ratio >= TARGET_RATIO else f"missed ({ratio:.1f}x)"
    lines += [
        "",
        f"- COPY fast path: {copy_rate:,.0f} rows/s, target >= {TARGET_ROWS_S:,} rows/s: {verdict_rate}.",
        f"- COPY vs naive row-by-row INSERT: {ratio:.1f}x, target >= {TARGET_RATIO:.0f}x: {verdict_ratio}.",
        f"- 1-minute load average of the machine during the runs: {min(loads):.1f} to {max(loads):.1f} on "
        f"{os.cpu_count()} cores (shared with other sessions; COPY is the figure most sensitive to it).",
    ]
    if copy_rate < TARGET_ROWS_S:
        lines.append(
            "- Why the COPY target is missed: one COPY stream is served by one PostgreSQL backend, which parses the "
            "24 typed columns (numeric, dates, timestamps) on at most one core; on this shared 2-core VM that caps "
            "a single load. Going further needs parallel COPY streams (e.g. one per partition or file chunk), "
            "a change to the load stage in apps/etl.")
    lines += [
        "",
        f"{args.rows:,} grade rows seeded; the {rows:,} valid ones loaded into `reporting.grade_facts` by the "
        "ETL load stage (labs/etl, `ETL_LOAD_FILES=false`), copy and naive runs alternated. Time = the stage's "
        "own database timing (COPY, or the INSERT loop, in the transaction that truncated the table; "
        "`wal_level=minimal`). PostgreSQL 2 GiB / 2 CPUs, load stage 1 CPU, on an internal Docker network.",
    ]
    table = "\n".join(lines)
    if args.no_write or args.rows != 1_000_000:
        print(table)
        if args.rows != 1_000_000:
            progress("not written to RESULTS.md: only the 1M-row run is recorded")
    else:
        print(write_section("etl_load", table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
