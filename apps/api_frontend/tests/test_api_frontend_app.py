"""Contract, configuration and failure behaviour of the lab 003 frontend."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import api_frontend

SCRIPT = Path(api_frontend.__file__).resolve()
BACKEND_BODY = b'{"body": "Je suis une r\\u00e9ponse du backend"}'
EXPECTED = b'{"return": {"body": "Je suis une r\\u00e9ponse du backend"}, "status": "[SUCESS]"}'


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeBackend:
    """A real HTTP server on 127.0.0.1 whose answer each test chooses."""

    def __init__(self, status=200, body=BACKEND_BODY, delay=0.0):
        self.status, self.body, self.delay, self.hits = status, body, delay, 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                fake.hits += 1
                time.sleep(fake.delay)
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def backend():
    fake = FakeBackend()
    yield fake
    fake.close()


def _client(port, **extra):
    env = {"API_BACKEND_URL": "127.0.0.1", "API_BACKEND_PORT": str(port), **extra}
    return api_frontend.create_app(env).test_client()


def test_root_wraps_the_backend_answer_byte_for_byte(backend):
    resp = _client(backend.port).get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.data == EXPECTED
    assert backend.hits == 1


def test_proxy_variables_do_not_capture_backend_traffic(backend, monkeypatch):
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens there
    assert _client(backend.port).get("/").data == EXPECTED


def test_backend_down_gives_502_json_not_a_traceback():
    resp = _client(_free_port()).get("/")
    assert resp.status_code == 502
    assert resp.mimetype == "application/json"
    payload = resp.get_json()
    assert payload["status"] == "[ERROR]" and "unreachable" in payload["error"]
    assert b"Traceback" not in resp.data


def test_slow_backend_is_cut_by_the_timeout():
    fake = FakeBackend(delay=3)
    try:
        started = time.monotonic()
        resp = _client(fake.port, API_BACKEND_TIMEOUT="0.3").get("/")
        elapsed = time.monotonic() - started
    finally:
        fake.close()
    assert resp.status_code == 502
    assert elapsed < 2


@pytest.mark.parametrize("status,body,needle", [
    (500, b'{"oops": 1}', "HTTP 500"),
    (200, b"<html>not json</html>", "invalid"),
])
def test_bad_backend_answers_give_502(status, body, needle):
    fake = FakeBackend(status=status, body=body)
    try:
        resp = _client(fake.port).get("/")
    finally:
        fake.close()
    assert resp.status_code == 502
    assert needle in resp.get_json()["error"]


def test_unknown_path_and_method_answer_json():
    client = api_frontend.create_app({"API_BACKEND_URL": "api-backend", "API_BACKEND_PORT": "8001"}).test_client()
    assert (client.get("/nope").status_code, client.get("/nope").get_json()) == (404, {"error": "Not Found", "status": 404})
    assert client.delete("/").get_json() == {"error": "Method Not Allowed", "status": 405}


def test_healthz_does_not_depend_on_the_backend():
    resp = _client(_free_port()).get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


@pytest.mark.parametrize("host,port,url", [
    ("api-backend", "8001", "http://api-backend:8001/"),
    ("api_backend_1", " 8001 ", "http://api_backend_1:8001/"),
    ("10.0.0.7", "80", "http://10.0.0.7:80/"),
    ("::1", "8001", "http://[::1]:8001/"),
])
def test_backend_url_is_built_from_host_and_port(host, port, url):
    assert api_frontend.backend_settings({"API_BACKEND_URL": host, "API_BACKEND_PORT": port}) == (url, 2.0)


@pytest.mark.parametrize("env,needle", [
    ({"API_BACKEND_PORT": "8001"}, "API_BACKEND_URL is required"),
    ({"API_BACKEND_URL": "", "API_BACKEND_PORT": "8001"}, "API_BACKEND_URL is required"),
    ({"API_BACKEND_URL": "api-backend"}, "API_BACKEND_PORT is required"),
    ({"API_BACKEND_URL": "http://api-backend", "API_BACKEND_PORT": "8001"}, "without scheme"),
    ({"API_BACKEND_URL": "api-backend", "API_BACKEND_PORT": "80a"}, "API_BACKEND_PORT must be"),
    ({"API_BACKEND_URL": "api-backend", "API_BACKEND_PORT": "0"}, "API_BACKEND_PORT must be"),
    ({"API_BACKEND_URL": "api-backend", "API_BACKEND_PORT": "8001", "API_BACKEND_TIMEOUT": "-1"},
     "API_BACKEND_TIMEOUT"),
])
def test_bad_configuration_is_rejected(env, needle):
    with pytest.raises(api_frontend.ConfigError, match=needle):
        api_frontend.create_app(env)


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("API_BACKEND_") and not k.lower().endswith("_proxy")}
    env.update(extra)
    return env


@pytest.mark.parametrize("extra,var", [
    ({}, "API_BACKEND_URL"),
    ({"API_BACKEND_URL": "api-backend"}, "API_BACKEND_PORT"),
    ({"API_BACKEND_PORT": "8001"}, "API_BACKEND_URL"),
])
def test_process_exits_at_start_with_one_clear_line(extra, var):
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=_clean_env(**extra),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("api_frontend: error: ") and f"{var} is required" in lines[0]


def _start(port, backend_port):
    env = _clean_env(API_BACKEND_URL="127.0.0.1", API_BACKEND_PORT=str(backend_port),
                     LISTEN_HOST="127.0.0.1", LISTEN_PORT=str(port))
    proc = subprocess.Popen([sys.executable, str(SCRIPT)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited early: {proc.communicate()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("server did not start")


def test_served_process_answers_and_traceback_ends_it_non_zero(backend):
    port = _free_port()
    proc = _start(port, backend.port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.read() == EXPECTED
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/traceback", timeout=5).read()
        assert proc.wait(timeout=10) == api_frontend.TRACEBACK_EXIT_CODE != 0
        assert b"Traceback" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_sigterm_stops_the_server_cleanly(backend):
    proc = _start(_free_port(), backend.port)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


# -- hostile input (issue #16) ---------------------------------------------------

METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) | st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=12)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, path=st.text(max_size=40), body=st.binary(max_size=200),
       headers=st.dictionaries(st.sampled_from(["Content-Type", "Authorization", "Accept", "Host", "X-Any"]),
                               HEADER_TEXT, max_size=3))
def test_no_5xx_on_any_request_while_the_backend_answers(backend, method, path, body, headers):
    if "traceback" in path.lower():
        return  # documented: ends the process on purpose
    response = _client(backend.port).open(
        "/" + urllib.parse.quote(path.lstrip("/"), safe="/?=&"), method=method, data=body, headers=headers)
    assert response.status_code < 500, (method, path, response.status_code)
