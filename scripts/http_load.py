#!/usr/bin/env python3
"""Closed-loop HTTP load: N clients, each on its own kept-alive connection, GET the URLs in turn until a stop
file appears (or --max-seconds), then print one JSON report: requests, failed (no answer or not 200),
statuses, errors, latency percentiles.

Used by molecule/registry (16 clients against the redeployed services during the pipeline's deploy) and
bench/bench_edge.py. Standard library only (it is copied to Molecule instances that have only python3);
no load tool is packaged in Debian's python3 or on the instances, and a closed loop with a stop file is
all the tests need.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse


def client(urls, stop, deadline, timeout, results, lock):
    conns = {}
    i = 0
    while not stop() and time.monotonic() < deadline:
        url = urls[i % len(urls)]
        i += 1
        parts = urllib.parse.urlsplit(url)
        key = (parts.hostname, parts.port)
        start = time.monotonic()
        status, error = None, None
        try:
            conn = conns.get(key)
            if conn is None:
                conn = conns[key] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            conn.request("GET", parts.path or "/")
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conns.pop(key, None)
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            conn = conns.pop(key, None)
            if conn is not None:
                conn.close()
        elapsed = time.monotonic() - start
        with lock:
            results["requests"] += 1
            results["latencies"].append(elapsed)
            if status != 200:
                results["failed"] += 1
                what = str(status) if status is not None else error
                results["failures"][what] = results["failures"].get(what, 0) + 1
                if len(results["first_failures"]) < 10:
                    results["first_failures"].append([round(time.time(), 3), url, what])
            else:
                results["ok"] += 1
    for conn in conns.values():
        conn.close()


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stop-file", help="stop when this file exists")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--out", help="write the JSON report here too")
    args = parser.parse_args()
    results = {"requests": 0, "ok": 0, "failed": 0, "failures": {}, "first_failures": [], "latencies": []}
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + args.max_seconds

    def stop():
        return bool(args.stop_file) and os.path.exists(args.stop_file)

    threads = [threading.Thread(target=client, args=(args.urls, stop, deadline, args.timeout, results, lock),
                                daemon=True) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = results.pop("latencies")
    report = {**results, "concurrency": args.concurrency, "urls": args.urls,
              "seconds": round(time.monotonic() - started, 2),
              "p50_ms": round(1000 * percentile(latencies, 0.50), 1) if latencies else None,
              "p99_ms": round(1000 * percentile(latencies, 0.99), 1) if latencies else None,
              "max_ms": round(1000 * max(latencies), 1) if latencies else None}
    text = json.dumps(report, sort_keys=True)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
