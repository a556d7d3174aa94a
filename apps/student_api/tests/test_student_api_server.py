"""The real launcher + gunicorn (several worker processes) on 127.0.0.1."""

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
# The app and the shared code its image gets (SHARED: apps/labs_common).
PYTHONPATH = os.pathsep.join([str(APP_DIR), str(APP_DIR.parent / "labs_common")])
COLLECTION = "/supmit/api/v1.0/get_student_ages"
USER, PASSWORD = "teacher", "Tr0ub4dor&3"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

pytest.importorskip("gunicorn")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, method, path, body=None, auth=True, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": AUTH} if auth else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, data


def launcher_env(tmp_path, **extra):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("API_", "GUNICORN_", "PROMETHEUS", "DATA_FILE"))
    }
    env.update(
        PYTHONPATH=PYTHONPATH,
        DATA_FILE=str(tmp_path / "data" / "student_age.json"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
        ACCESS_LOG="false",
    )
    env.update(extra)
    return env


class Server:
    def __init__(self, tmp_path, **env):
        self.port = free_port()
        self.log_path = tmp_path / "server.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "student_api.serve"],
            cwd=str(tmp_path),
            env=launcher_env(
                tmp_path,
                API_USERNAME=USER,
                API_PASSWORD=PASSWORD,
                PORT=str(self.port),
                **env,
            ),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                request(self.port, "GET", "/healthz", auth=False, timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("server did not answer within 20 s:\n" + self.output())

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


@pytest.fixture()
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    "extra,fragment",
    [
        ({}, "API_USERNAME and API_PASSWORD not set"),
        ({"API_USERNAME": "root", "API_PASSWORD": "root"}, "root:root"),
    ],
)
def test_refuses_to_start(tmp_path, extra, fragment):
    result = subprocess.run(
        [sys.executable, "-m", "student_api.serve"],
        cwd=str(tmp_path),
        env=launcher_env(tmp_path, PORT=str(free_port()), **extra),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("student_api: configuration error:")
    assert fragment in lines[0]
    assert not (tmp_path / "data").exists()  # nothing seeded


def test_seeds_serves_and_stops_cleanly(server, tmp_path):
    status, body = request(server.port, "GET", COLLECTION)
    assert status == 200
    assert json.loads(body) == {
        "student_ages": {"Ahmed": "20", "Amine": "20", "Hiba": "21", "Meryem": "23", "Omar": "20", "Sara": "23"}
    }
    assert request(server.port, "GET", COLLECTION, auth=False)[0] == 401
    assert "seeded" in server.output()
    assert server.stop() == 0


def test_200_concurrent_writes_are_all_kept(server, tmp_path):
    total = 200
    barrier = threading.Barrier(total)
    results = [None] * total

    def post(i):
        barrier.wait(30)
        try:
            results[i] = request(
                server.port, "POST", COLLECTION, {"name": f"student-{i:03d}", "age": 1 + i % 150}, timeout=60
            )[0]
        except Exception as exc:  # pragma: no cover - shown in the assertion
            results[i] = repr(exc)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(total)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results == [201] * total

    status, body = request(server.port, "GET", COLLECTION)
    listing = json.loads(body)["student_ages"]
    assert status == 200 and len(listing) == 6 + total
    on_disk = json.loads((tmp_path / "data" / "student_age.json").read_text())
    assert on_disk == listing
    for i in range(total):
        assert listing[f"student-{i:03d}"] == str(1 + i % 150)
    assert [e for e in os.listdir(tmp_path / "data") if e.endswith(".tmp")] == []

    # /metrics adds up both worker processes.
    status, body = request(server.port, "GET", "/metrics", auth=False)
    text = body.decode()
    line = next(l for l in text.splitlines() if l.startswith('student_api_data_writes_total{operation="create"}'))
    assert float(line.split()[-1]) == total
    assert f"student_api_students {6 + total}.0" in text


def test_concurrent_mixed_updates_of_one_file(server):
    """PUTs to different students racing with reads: every update survives."""
    names = [f"mix-{i}" for i in range(40)]
    errors = []

    def worker(name):
        for age in (10, 20, 30):
            status, _ = request(server.port, "PUT", f"{COLLECTION}/{name}", {"age": age})
            if status not in (200, 201):
                errors.append((name, age, status))
            if request(server.port, "GET", COLLECTION)[0] != 200:
                errors.append((name, "read"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    listing = json.loads(request(server.port, "GET", COLLECTION)[1])["student_ages"]
    assert all(listing[n] == "30" for n in names)


def test_corrupt_file_keeps_running_and_is_untouched(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    corrupt = b'{"Ahmed": "20",'
    (data_dir / "student_age.json").write_bytes(corrupt)
    srv = Server(tmp_path)
    try:
        status, body = request(srv.port, "GET", "/healthz", auth=False)
        assert status == 503
        assert "not valid JSON" in json.loads(body)["error"]
        assert request(srv.port, "GET", COLLECTION)[0] == 503
        assert request(srv.port, "POST", COLLECTION, {"name": "X", "age": 5})[0] == 503
        assert "DATA FILE PROBLEM" in srv.output()
        assert srv.proc.poll() is None  # still running: no crash loop
        assert (data_dir / "student_age.json").read_bytes() == corrupt
        (data_dir / "student_age.json").write_text('{"Back": "40"}')
        assert request(srv.port, "GET", "/healthz", auth=False)[0] == 200
    finally:
        srv.stop()
    assert (data_dir / "student_age.json").read_text() == '{"Back": "40"}'


def test_healthcheck_module(server):
    env = dict(os.environ, PYTHONPATH=PYTHONPATH, PORT=str(server.port))
    ok = subprocess.run([sys.executable, "-m", "student_api.healthcheck"], env=env, capture_output=True, timeout=20)
    assert ok.returncode == 0
    env["PORT"] = str(free_port())
    bad = subprocess.run([sys.executable, "-m", "student_api.healthcheck"], env=env, capture_output=True, text=True, timeout=20)
    assert bad.returncode == 1
    assert bad.stderr.startswith("unhealthy:")


def test_sync_workers_and_access_log(tmp_path):
    srv = Server(tmp_path, GUNICORN_WORKER_CLASS="sync", ACCESS_LOG="true")
    try:
        status, body = request(srv.port, "GET", COLLECTION + "/Meryem")
        assert status == 200 and json.loads(body) == {"Meryem": "23"}
        assert request(srv.port, "POST", COLLECTION, {"name": "Sync", "age": 9})[0] == 201
    finally:
        srv.stop()
    out = srv.output()
    assert "Using worker: sync" in out
    assert f'"GET {COLLECTION}/Meryem HTTP/1.1" 200' in out


@pytest.mark.parametrize("missing", [1, 34])
def test_body_cut_short_by_the_client_is_not_stored(server, tmp_path, missing):
    """A client declares more bytes than it sends (a whole valid JSON object)
    and closes its side: gunicorn hands the short body over; the API must
    answer 400 and store nothing."""
    data_file = tmp_path / "data" / "student_age.json"
    before = data_file.read_bytes()
    body = b'{"name": "Cut", "age": 30}'
    head = (f"POST {COLLECTION} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body) + missing}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"400", answer[:300]
    assert data_file.read_bytes() == before
