"""Prometheus image: rendered configuration and alert rules are valid
(promtool check config / check rules), the alerts fire when they should
(promtool test rules), and a real Prometheus started by the entrypoint
scrapes a file_sd target and raises the ETL alert."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
ENTRYPOINT = APP_DIR / "prometheus-entrypoint.sh"


def test_rendered_config_and_rules_are_valid(render, promtool):
    proc, out = render()
    assert proc.returncode == 0, proc.stderr
    config = (out / "prometheus.yml").read_text()
    assert "@PROM_" not in config
    assert "scrape_interval: 15s" in config and '"127.0.0.1:9090"' in config
    rules = sorted(p.name for p in (out / "rules").iterdir())
    assert rules == ["containers.rules.yml", "etl.rules.yml", "targets.rules.yml"]
    for name in rules:
        assert "@PROM_" not in (out / "rules" / name).read_text()
    check = subprocess.run([promtool, "check", "config", str(out / "prometheus.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 3 rule files found" in check.stdout
    check = subprocess.run([promtool, "check", "rules", *map(str, (out / "rules").iterdir())],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_check_command_and_alertmanagers(render, promtool):
    proc, out = render("check", PROM_ALERTMANAGERS="am1:9093,am-2.internal:9093",
                       PROM_ETL_STALE_HOURS="48", PROM_LISTEN="0.0.0.0:9191")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = (out / "prometheus.yml").read_text()
    assert '- "am1:9093"' in config and '- "am-2.internal:9093"' in config
    assert '"127.0.0.1:9191"' in config
    assert "> 48 * 3600" in (out / "rules" / "etl.rules.yml").read_text()


def test_mounted_config_bypasses_rendering(render, promtool, tmp_path):
    mounted = tmp_path / "mine.yml"
    mounted.write_text("global:\n  scrape_interval: 30s\nscrape_configs: []\n")
    proc, out = render("check", PROM_CONFIG_FILE=str(mounted))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "using the mounted configuration" in proc.stderr
    assert not (out / "prometheus.yml").exists()


@pytest.mark.parametrize(
    "var, value",
    [
        ("PROM_SCRAPE_INTERVAL", "15 seconds"),
        ("PROM_ETL_STALE_HOURS", "2.5"),
        ("PROM_ETL_STALE_HOURS", "0"),
        ("PROM_ETL_BAD_RATIO", "2"),
        ("PROM_TARGETS_DIR", "relative/dir"),
        ("PROM_TARGETS_DIR", "/etc|rm -rf"),
        ("PROM_ALERTMANAGERS", "am1:9093;evil"),
        ("PROM_LISTEN", "9090"),
        ("PROM_RETENTION_SIZE", "lots"),
    ],
)
def test_invalid_settings_are_rejected(render, var, value):
    proc, out = render(**{var: value})
    assert proc.returncode == 2
    assert var in proc.stderr
    assert not (out / "prometheus.yml").exists()


def _alert(name, eval_time, labels, summary, description):
    return {"eval_time": eval_time, "alertname": name,
            "exp_alerts": [{"exp_labels": labels,
                            "exp_annotations": {"summary": summary, "description": description}}]}


def test_alert_rules_fire_when_they_should(render, promtool):
    proc, out = render(PROM_TARGET_DOWN_FOR="2m", PROM_ETL_STALE_HOURS="26", PROM_ETL_BAD_RATIO="0.1")
    assert proc.returncode == 0, proc.stderr
    target = {"job": "etl", "instance": "etl-metrics:9108"}
    spec = {
        "rule_files": ["rules/etl.rules.yml", "rules/targets.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {   # target down for 2m
                "interval": "1m",
                "input_series": [{"series": 'up{job="etl",instance="etl-metrics:9108"}',
                                  "values": "1 1 0 0 0 0 0"}],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "TargetDown", "exp_alerts": []},
                    _alert("TargetDown", "5m", {**target, "severity": "critical"},
                           "Target etl-metrics:9108 of job etl is down",
                           "Prometheus could not scrape etl-metrics:9108 (job etl) for 2m."),
                ],
            },
            {   # a failed stage alerts at once; a successful one does not
                "interval": "1m",
                "input_series": [
                    {"series": 'etl_stage_last_run_success{job="etl",instance="etl-metrics:9108",stage="transform"}',
                     "values": "1 1 0 0"},
                    {"series": 'etl_stage_last_run_success{job="etl",instance="etl-metrics:9108",stage="load"}',
                     "values": "1 1 1 1"},
                ],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "EtlStageFailed", "exp_alerts": []},
                    _alert("EtlStageFailed", "3m", {**target, "stage": "transform", "severity": "critical"},
                           "ETL stage transform failed",
                           "The last run of the ETL stage transform failed (see etl_stage_last_exit_code "
                           "and the container logs)."),
                ],
            },
            {   # stale: the last load success is 27 h old (timestamp 0)
                "interval": "1m",
                "input_series": [
                    {"series": 'etl_stage_last_success_timestamp_seconds{job="etl",instance="etl-metrics:9108",stage="load"}',
                     "values": "0+0x2000"},
                ],
                "alert_rule_test": [
                    {"eval_time": "20h", "alertname": "EtlStale", "exp_alerts": []},
                    _alert("EtlStale", "27h", {**target, "severity": "warning"},
                           "No successful ETL load for more than 26 h",
                           "The last successful load finished 1d 3h 0m 0s ago."),
                    {"eval_time": "27h", "alertname": "EtlNeverSucceeded", "exp_alerts": []},
                ],
            },
            {   # fresh successes (one a minute) never alert
                "interval": "1m",
                "input_series": [
                    {"series": 'etl_stage_last_success_timestamp_seconds{job="etl",instance="etl-metrics:9108",stage="load"}',
                     "values": "0+60x2000"},
                ],
                "alert_rule_test": [{"eval_time": "30h", "alertname": "EtlStale", "exp_alerts": []}],
            },
            {   # no metrics at all for 26 h
                "interval": "10m",
                "input_series": [{"series": 'up{job="etl",instance="etl-metrics:9108"}', "values": "1+0x200"}],
                "alert_rule_test": [
                    {"eval_time": "25h", "alertname": "EtlNeverSucceeded", "exp_alerts": []},
                    _alert("EtlNeverSucceeded", "27h", {"stage": "load", "severity": "warning"},
                           "No ETL load success recorded for 26 h",
                           'Prometheus has seen no etl_stage_last_success_timestamp_seconds{stage="load"} '
                           "for 26 h: the ETL never ran, or its metrics server is not scraped."),
                ],
            },
            {   # 30 % bad rows
                "interval": "1m",
                "input_series": [
                    {"series": 'etl_stage_bad_rows{job="etl",instance="etl-metrics:9108",stage="transform"}',
                     "values": "30 30"},
                    {"series": 'etl_stage_rows_processed{job="etl",instance="etl-metrics:9108",stage="transform"}',
                     "values": "100 100"},
                ],
                "alert_rule_test": [
                    _alert("EtlTooManyBadRows", "1m", {**target, "stage": "transform", "severity": "warning"},
                           "ETL stage transform rejected too many rows",
                           "30% of the rows were invalid (threshold 0.1)."),
                ],
            },
        ],
    }
    test_file = out / "alerts_test.json"
    test_file.write_text(json.dumps(spec, indent=1))
    proc = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_container_rules_fire_when_they_should(render, promtool):
    """The rules on apps/container_exporter's series: down (not one-shot jobs), unhealthy, OOM kills, restart loop,
    memory."""
    proc, out = render(PROM_SERVICE_DOWN_FOR="1m", PROM_MEMORY_NEAR_LIMIT="0.9")
    assert proc.returncode == 0, proc.stderr
    svc = 'stack="etl",service="etl-metrics",container="etl-metrics"'
    job = 'stack="etl",service="etl-load",container="etl-load"'
    labels = {"stack": "etl", "service": "etl-metrics", "container": "etl-metrics"}
    spec = {
        "rule_files": ["rules/containers.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": "labs_container_running{%s,oneshot=\"false\"}" % svc, "values": "1 1 0 0 0"},
                {"series": "labs_container_running{%s,oneshot=\"true\"}" % job, "values": "0 0 0 0 0"},
                {"series": "labs_container_oom_kills_total{%s}" % svc, "values": "_ _ 1 1 1"},
                {"series": "labs_container_restart_count{%s}" % svc, "values": "0 1 2 3 3"},
                {"series": "labs_container_memory_bytes{%s}" % svc, "values": "10 95 95 95 95"},
                {"series": "labs_container_memory_limit_bytes{%s}" % svc, "values": "100 100 100 100 100"},
                # An EC2 deployment's series carry the host (the dashboard and the alerts page show it).
                {"series": "labs_container_health{%s,host=\"student-host\",status=\"unhealthy\"}" % svc,
                 "values": "0 0 1 1 1"},
            ],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "ServiceDown", "exp_alerts": []},
                {"eval_time": "3m", "alertname": "ServiceDown",
                 "exp_alerts": [{"exp_labels": {**labels, "oneshot": "false", "severity": "critical"}, "exp_annotations": {
                     "summary": "Service etl-metrics of stack etl is not running",
                     "description": "Container etl-metrics has not been running for 1m (stopped, exited, restarting or removed)."}}]},
                {"eval_time": "2m", "alertname": "ServiceOOMKilled",
                 "exp_alerts": [{"exp_labels": {**labels, "severity": "critical"}, "exp_annotations": {
                     "summary": "Service etl-metrics of stack etl was killed for lack of memory",
                     "description": "The kernel's OOM killer stopped a process of container etl-metrics (memory limit reached)."}}]},
                {"eval_time": "2m", "alertname": "ServiceUnhealthy", "exp_alerts": []},
                {"eval_time": "3m", "alertname": "ServiceUnhealthy",
                 "exp_alerts": [{"exp_labels": {**labels, "host": "student-host", "status": "unhealthy",
                                                "severity": "critical"}, "exp_annotations": {
                     "summary": "Service etl-metrics of stack etl is unhealthy",
                     "description": "The healthcheck of container etl-metrics has been failing for 1m."}}]},
                {"eval_time": "2m", "alertname": "ServiceRestartLoop", "exp_alerts": []},
                {"eval_time": "3m", "alertname": "ServiceRestartLoop",
                 "exp_alerts": [{"exp_labels": {**labels, "severity": "critical"}, "exp_annotations": {
                     "summary": "Service etl-metrics of stack etl is restarting in a loop",
                     "description": "Container etl-metrics restarted 3 times in 15 minutes."}}]},
                {"eval_time": "3m", "alertname": "ServiceNearMemoryLimit",
                 "exp_alerts": [{"exp_labels": {**labels, "severity": "warning"}, "exp_annotations": {
                     "summary": "Service etl-metrics of stack etl is near its memory limit",
                     "description": "Container etl-metrics uses 95% of its memory limit (threshold 0.9)."}}]},
            ],
        }],
    }
    test_file = out / "containers_test.json"
    test_file.write_text(json.dumps(spec, indent=1))
    proc = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class _FakeEtlMetrics(BaseHTTPRequestHandler):
    body = (
        "# TYPE etl_stage_last_run_success gauge\n"
        'etl_stage_last_run_success{stage="load"} 0\n'
        "# TYPE etl_stage_last_success_timestamp_seconds gauge\n"
        f'etl_stage_last_success_timestamp_seconds{{stage="load"}} {time.time():.0f}\n'
    ).encode()

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def test_live_prometheus_scrapes_file_sd_target_and_alerts(tmp_path):
    prometheus = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.path.exists(prometheus):
        pytest.skip("prometheus binary not found (apt-get install -y prometheus)")
    fake = ThreadingHTTPServer(("127.0.0.1", 0), _FakeEtlMetrics)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "etl.json").write_text(json.dumps(
        [{"targets": [f"127.0.0.1:{fake.server_address[1]}"], "labels": {"job": "etl"}}]
    ))
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PROMETHEUS_BIN": prometheus,
        "PROM_TEMPLATE_DIR": str(APP_DIR / "templates"),
        "PROM_RENDER_DIR": str(tmp_path / "rendered"),
        "PROM_TARGETS_DIR": str(targets),
        "PROM_RULES_EXTRA_DIR": str(tmp_path / "rules.d"),
        "PROM_STORAGE_PATH": str(tmp_path / "data"),
        "PROM_LISTEN": f"127.0.0.1:{port}",
        "PROM_SCRAPE_INTERVAL": "1s",
        "PROM_SCRAPE_TIMEOUT": "1s",
        "PROM_EVALUATION_INTERVAL": "1s",
    }
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([str(ENTRYPOINT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        up = alerts = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                targets_now = _get_json(base + "/api/v1/targets")["data"]["activeTargets"]
                up = {t["labels"]["job"]: t["health"] for t in targets_now}
                alerts = {a["labels"]["alertname"]: a["state"]
                          for a in _get_json(base + "/api/v1/alerts")["data"]["alerts"]}
            except OSError:
                pass
            if up and up.get("etl") == "up" and up.get("prometheus") == "up" \
                    and alerts and alerts.get("EtlStageFailed") == "firing":
                break
            time.sleep(0.5)
        assert up == {"etl": "up", "prometheus": "up"}, up
        assert alerts.get("EtlStageFailed") == "firing", alerts
        assert "EtlStale" not in alerts  # the success is fresh
        # Issue #16: no any-origin CORS, no admin or lifecycle endpoints.
        request = urllib.request.Request(base + "/api/v1/query?query=up",
                                         headers={"Origin": "http://evil.example"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers.get("Access-Control-Allow-Origin") is None, dict(resp.headers)
        for method, path in (("PUT", "/-/quit"), ("POST", "/-/reload"),
                             ("POST", "/api/v1/admin/tsdb/snapshot")):
            try:
                urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=5)
                status = 200
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert status >= 400, (method, path, status)
        # What Prometheus 2.42 cannot turn off (README): /debug/pprof answers
        # whoever reaches the port. If this fails, a newer version closed it:
        # update the README.
        with urllib.request.urlopen(base + "/debug/pprof/", timeout=5) as resp:
            assert resp.status == 200
        # The image's HEALTHCHECK command.
        check = subprocess.run([str(ENTRYPOINT), "healthcheck"], env=env, timeout=10)
        assert check.returncode == 0
    finally:
        proc.send_signal(signal.SIGTERM)  # PID 1 in the container: exec'd prometheus
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        fake.shutdown()
        log.close()
    assert proc.returncode == 0, (tmp_path / "prometheus.log").read_text()[-2000:]
    down = subprocess.run([str(ENTRYPOINT), "healthcheck"], env=env, timeout=10)
    assert down.returncode != 0


def _serve_args(tmp_path, *flags, **env):
    """The prometheus command line the entrypoint would exec (echo stands in)."""
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PROMETHEUS_BIN": "/bin/echo",
        "PROM_TEMPLATE_DIR": str(APP_DIR / "templates"),
        "PROM_RENDER_DIR": str(tmp_path / "rendered"),
        "PROM_TARGETS_DIR": str(APP_DIR / "examples" / "targets"),
        "PROM_STORAGE_PATH": str(tmp_path / "data"),
    }
    full.update(env)
    return subprocess.run([str(ENTRYPOINT), "serve", *flags], env=full, capture_output=True, text=True,
                          timeout=60)


def test_serve_sends_no_cors_to_other_origins_by_default(tmp_path):
    proc = _serve_args(tmp_path)
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.split()
    assert "--web.cors.origin=" in args  # Prometheus's own default is .* (any origin)
    assert not any(a.startswith("--web.config.file") for a in args)
    proc = _serve_args(tmp_path, PROM_CORS_ORIGIN="https://grafana\\.lab")
    assert "--web.cors.origin=https://grafana\\.lab" in proc.stdout.split()


@pytest.mark.parametrize("flag", ["--web.enable-admin-api", "--web.enable-lifecycle",
                                  "--web.enable-remote-write-receiver",
                                  "--enable-feature=remote-write-receiver"])
def test_serve_refuses_flags_that_let_anyone_change_prometheus(tmp_path, flag):
    proc = _serve_args(tmp_path, flag)
    assert proc.returncode == 2 and "PROM_ALLOW_UNSAFE_FLAGS" in proc.stderr, proc
    proc = _serve_args(tmp_path, flag, PROM_ALLOW_UNSAFE_FLAGS="true")
    assert proc.returncode == 0 and flag in proc.stdout.split(), proc


@pytest.mark.parametrize("value", ["a b", "x'y", 'x"y', "a\nb", "a;b", "x`y`"])
def test_serve_refuses_a_bad_cors_origin(tmp_path, value):
    proc = _serve_args(tmp_path, PROM_CORS_ORIGIN=value)
    assert proc.returncode == 2, proc


def test_web_config_file_is_passed_and_must_exist(tmp_path):
    config = tmp_path / "web.yml"
    assert _serve_args(tmp_path, PROM_WEB_CONFIG_FILE=str(config)).returncode == 2
    config.write_text("basic_auth_users: {}\n")
    proc = _serve_args(tmp_path, PROM_WEB_CONFIG_FILE=str(config))
    assert proc.returncode == 0 and f"--web.config.file={config}" in proc.stdout.split()
