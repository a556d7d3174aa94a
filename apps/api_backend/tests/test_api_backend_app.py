"""Contract and process behaviour of the lab 003 backend."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import api_backend

SCRIPT = Path(api_backend.__file__).resolve()
EXPECTED = b'{"body": "Je suis une r\\u00e9ponse du backend"}'


@pytest.fixture()
def client():
    return api_backend.app.test_client()


def test_root_is_the_lab_body_byte_for_byte(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.data == EXPECTED
    assert json.loads(resp.data) == {"body": "Je suis une r\u00e9ponse du backend"}


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_unknown_path_is_a_json_404(client):
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert resp.get_json() == {"error": "Not Found", "status": 404}


def test_post_root_is_a_json_405(client):
    resp = client.post("/")
    assert resp.status_code == 405
    assert resp.get_json() == {"error": "Method Not Allowed", "status": 405}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port, **extra_env):
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(LISTEN_HOST="127.0.0.1", LISTEN_PORT=str(port), **extra_env)
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


def test_served_process_answers_and_traceback_ends_it_non_zero():
    port = _free_port()
    proc = _start(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200
            assert resp.read() == EXPECTED
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/traceback", timeout=5).read()
        assert proc.wait(timeout=10) == api_backend.TRACEBACK_EXIT_CODE != 0
        assert b"Traceback" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_sigterm_stops_the_server_cleanly():
    proc = _start(_free_port())
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.parametrize("var,value", [("LISTEN_PORT", "http"), ("LISTEN_PORT", "70000"), ("THREADS", "0")])
def test_bad_listen_settings_exit_at_start_with_one_line(var, value):
    env = dict(os.environ, **{var: value})
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and var in lines[0] and lines[0].startswith("api_backend: error:")


# -- hostile input (issue #16) ---------------------------------------------------

METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) | st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=12)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, path=st.text(max_size=40), body=st.binary(max_size=200),
       headers=st.dictionaries(st.sampled_from(["Content-Type", "Authorization", "Accept", "Host", "X-Any"]),
                               HEADER_TEXT, max_size=3))
def test_no_5xx_on_any_request_but_traceback(client, method, path, body, headers):
    if "traceback" in path.lower():
        return  # documented: ends the process on purpose
    response = client.open(
        "/" + urllib.parse.quote(path.lstrip("/"), safe="/?=&"), method=method, data=body, headers=headers)
    assert response.status_code < 500, (method, path, response.status_code)
