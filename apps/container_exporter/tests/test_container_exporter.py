"""Unit tests of the exporter's pure parts and of the webhook sink (no Docker engine needed)."""

import json
import threading
import urllib.request
from collections import deque
from http.server import ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest

from container_exporter import exporter, sink


def inspect(name, running=True, health="healthy", stack="etl", oneshot=False, oom=False, restarts=0):
    labels = {"io.devops-labs.stack": stack, "com.docker.compose.service": name}
    if oneshot:
        labels["io.devops-labs.oneshot"] = "true"
    state = {"Running": running, "Restarting": False, "OOMKilled": oom, "ExitCode": 0 if running else 137}
    if health:
        state["Health"] = {"Status": health}
    return {"Id": name * 4, "Name": "/" + name, "RestartCount": restarts, "State": state,
            "Config": {"Labels": labels}, "HostConfig": {"Memory": 268435456, "NanoCpus": 500000000},
            "NetworkSettings": {"Ports": {"9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9091"}], "5514/udp": [
                {"HostIp": "127.0.0.1", "HostPort": "5514"}], "9108/tcp": None}}}


SAMPLE = {"memory_stats": {"usage": 150 * 2**20, "limit": 256 * 2**20, "stats": {"inactive_file": 50 * 2**20}},
          "cpu_stats": {"cpu_usage": {"total_usage": 3000}, "system_cpu_usage": 20000, "online_cpus": 2},
          "precpu_stats": {"cpu_usage": {"total_usage": 1000}, "system_cpu_usage": 10000},
          "pids_stats": {"current": 7}}


class FakeExporter:
    def __init__(self, records, ooms=None):
        self.records, self.ooms = records, ooms or {}

    def collect(self):
        return exporter.families(self.records, self.ooms, 1700000000.0, 2)


def exposition(records, ooms=None):
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FakeExporter(records, ooms))
    return generate_latest(registry).decode()


def test_running_container_has_docker_stats_figures_and_labels():
    text = exposition([exporter.container_record(inspect("etl-postgres"), SAMPLE)])
    ids = 'container="etl-postgres",service="etl-postgres",stack="etl"'
    assert ('labs_container_running{container="etl-postgres",oneshot="false",service="etl-postgres",stack="etl"} 1.0'
            in text)
    assert "labs_container_memory_bytes{%s} 1.048576e+08" % ids in text  # usage minus inactive_file
    assert "labs_container_memory_limit_bytes{%s} 2.68435456e+08" % ids in text
    assert "labs_container_cpu_percent{%s} 40.0" % ids in text  # 2000/10000 x 2 CPUs x 100
    assert "labs_container_cpu_limit_cpus{%s} 0.5" % ids in text
    assert 'labs_container_health{%s,status="healthy"} 1.0' % ids in text
    assert 'labs_container_health{%s,status="unhealthy"} 0.0' % ids in text
    assert "labs_exporter_poll_errors_total 2.0" in text
    # Only TCP ports published on the host (the page links to them).
    assert ('labs_container_published_port{container="etl-postgres",container_port="9090",host_ip="127.0.0.1",'
            'host_port="9091",service="etl-postgres",stack="etl"} 1.0') in text
    assert text.count("labs_container_published_port{") == 1


def test_stopped_oom_killed_container_and_oneshot_jobs():
    stopped = exporter.container_record(inspect("etl-metrics", running=False, health="unhealthy", oom=True,
                                                restarts=4), None)
    job = exporter.container_record(inspect("etl-load", running=False, health=None, oneshot=True), None)
    text = exposition([stopped, job], ooms={("etl", "etl-metrics", "etl-metrics"): 2})
    assert 'labs_container_running{container="etl-metrics",oneshot="false",service="etl-metrics",stack="etl"} 0.0' in text
    assert 'labs_container_running{container="etl-load",oneshot="true",service="etl-load",stack="etl"} 0.0' in text
    assert 'labs_container_health{container="etl-load",service="etl-load",stack="etl",status="none"} 1.0' in text
    assert 'labs_container_oom_killed{container="etl-metrics",service="etl-metrics",stack="etl"} 1.0' in text
    assert 'labs_container_restart_count{container="etl-metrics",service="etl-metrics",stack="etl"} 4.0' in text
    assert 'labs_container_oom_kills_total{container="etl-metrics",service="etl-metrics",stack="etl"} 2.0' in text
    # No usage without a sample: no memory series rather than a false 0.
    assert 'labs_container_memory_bytes{container="etl-metrics"' not in text


def test_webhook_sink_keeps_and_shows_what_it_received():
    kept = deque(maxlen=2)
    server = ThreadingHTTPServer(("127.0.0.1", 0), sink.make_handler(kept, threading.Lock()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    payload = {"receiver": "webhook", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "ServiceDown", "stack": "etl", "service": "<etl-metrics>"},
         "annotations": {"summary": "down"}, "startsAt": "2026-01-01T00:00:00Z"}]}
    try:
        request = urllib.request.Request(base + "/alerts", data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        assert json.load(urllib.request.urlopen(request)) == {"received": 1}
        [alert] = json.load(urllib.request.urlopen(base + "/alerts"))
        assert alert["labels"]["alertname"] == "ServiceDown" and alert["received_at"] > 0
        page = urllib.request.urlopen(base + "/").read().decode()
        assert "ServiceDown" in page and "&lt;etl-metrics&gt;" in page and "<etl-metrics>" not in page
        bad = urllib.request.Request(base + "/alerts", data=b"not json", method="POST")
        try:
            urllib.request.urlopen(bad)
            raise AssertionError("a bad payload was accepted")
        except urllib.error.HTTPError as error:
            assert error.code == 400
    finally:
        server.shutdown()


# --- Declared services (services.json of roles/compose_stack): a removed container is reported as down ----------

def write_declared(stacks, stack, services):
    (stacks / stack).mkdir(parents=True)
    (stacks / stack / "services.json").write_text(json.dumps({"stack": stack, "services": services}))


def test_declared_services_come_from_each_stacks_services_file(tmp_path):
    write_declared(tmp_path, "etl", ["etl-postgres", "etl-metrics"])
    write_declared(tmp_path, "student", [])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "services.json").write_text("{not json")
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "services.json").write_text(json.dumps({"services": {"a": 1}}))
    (tmp_path / "nothing").mkdir()  # a stack rendered by an older role: no file
    assert exporter.declared_services(str(tmp_path)) == {"etl": ["etl-metrics", "etl-postgres"], "student": []}
    assert exporter.declared_services("") == {}
    assert exporter.declared_services(str(tmp_path / "absent")) == {}


class FakeAPI:
    def __init__(self, containers, networks):
        self._containers, self._networks = containers, networks

    def containers(self, all, filters):  # noqa: A002 - the SDK's argument name
        assert all and filters == {"label": "io.devops-labs.project=labs"}
        return [{"Id": c["Id"]} for c in self._containers]

    def inspect_container(self, cid):
        return next(c for c in self._containers if c["Id"] == cid)

    def stats(self, cid, stream):
        return SAMPLE

    def networks(self, filters):
        assert filters == {"label": "io.devops-labs.project=labs"}
        return self._networks


class FakeClient:
    def __init__(self, containers, networks):
        self.api = FakeAPI(containers, networks)


def poll(tmp_path, containers, networks):
    exp = exporter.Exporter(FakeClient(containers, networks), "io.devops-labs.project=labs", 5, str(tmp_path))
    exp.poll()
    assert exp.poll_errors == 0
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exp)
    return generate_latest(registry).decode()


def test_a_removed_container_of_a_deployed_stack_is_exported_as_down(tmp_path):
    write_declared(tmp_path, "etl", ["etl-postgres", "etl-metrics"])
    network = {"Name": "etl_back", "Labels": {"io.devops-labs.stack": "etl", "io.devops-labs.project": "labs"}}
    text = poll(tmp_path, [inspect("etl-postgres")], [network])
    down = 'container="etl-metrics",oneshot="false",service="etl-metrics",stack="etl"'
    assert "labs_container_running{%s} 0.0" % down in text
    assert 'labs_container_missing{container="etl-metrics",service="etl-metrics",stack="etl"} 1.0' in text
    assert 'labs_container_missing{container="etl-postgres",service="etl-postgres",stack="etl"} 0.0' in text
    # No figures for what does not exist (the dashboard shows it as down, not at 0 %).
    assert 'labs_container_health{container="etl-metrics"' not in text
    assert 'labs_container_memory_limit_bytes{container="etl-metrics"' not in text
    # Every container removed, the stack's network left (docker rm -f, not compose down): all of them down.
    text = poll(tmp_path, [], [network])
    running = [line for line in text.splitlines() if line.startswith("labs_container_running{")]
    assert len(running) == 2 and all(line.endswith("} 0.0") for line in running)
    assert len([line for line in text.splitlines() if line.startswith("labs_container_missing{")
                and line.endswith("} 1.0")]) == 2


def test_a_stack_taken_down_or_never_deployed_is_not_reported(tmp_path):
    write_declared(tmp_path, "etl", ["etl-metrics"])
    # docker compose down removed the containers and the networks: the stack is not deployed, nothing is down.
    text = poll(tmp_path, [], [])
    assert "labs_container_running{" not in text and "labs_container_missing{" not in text
    # Another stack's network says nothing about etl.
    text = poll(tmp_path, [], [{"Labels": {"io.devops-labs.stack": "student"}}])
    assert "labs_container_missing{" not in text
