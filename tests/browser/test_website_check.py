"""website_check.py against the real PHP page (php -S) and a stub student API.

Needs php-cli, chromium, chromium-driver (Debian) and selenium (PyPI);
the root conftest.py stops the run, naming what is missing (make test-deps installs them).
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "browser" / "website_check.py"
PUBLIC = ROOT / "apps" / "website" / "src" / "public"
INI = ROOT / "apps" / "website" / "conf" / "php-website.ini"
USER, PASSWORD = "teacher", "pa55word"
LAB = {"Ahmed": "20", "Amine": "20", "Hiba": "21", "Meryem": "23", "Omar": "20", "Sara": "23"}


def _load_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("website_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("website_check", module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


website_check = _load_module()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def stub_api():
    state = {"students": dict(LAB)}
    expected_auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.headers.get("Authorization") != expected_auth:
                status, doc = 401, {"error": "Unauthorized access"}
            else:
                status, doc = 200, {"student_ages": state["students"]}
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture()
def website(tmp_path):
    procs = []

    def start(api_url, password=PASSWORD):
        port = free_port()
        env = dict(os.environ, API_URL=api_url, USERNAME=USER, PASSWORD=password)
        log = open(tmp_path / f"php-{port}.log", "wb")
        proc = subprocess.Popen(
            ["php", "-c", str(INI), "-S", f"127.0.0.1:{port}", "-t", str(PUBLIC)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        procs.append((proc, log))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("php -S did not start")

    yield start
    for proc, log in procs:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_cli_success_with_screenshot(stub_api, website, tmp_path):
    url = website(stub_api["url"])
    shot = tmp_path / "shots" / "out.png"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--url", url, "--expect-students", "6", "--screenshot", str(shot)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "OK: 6 student(s)" in result.stdout and "Meryem 23" in result.stdout
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_rows_are_read_from_the_page(stub_api, website):
    stub_api["students"] = {**LAB, "Zoé": "31"}
    url = website(stub_api["url"])
    result = website_check.check_website(url, expect_students=7, expected={"Zoé": "31", "Hiba": "21"})
    assert dict(result.rows) == {**LAB, "Zoé": "31"}


def test_wrong_count_fails(stub_api, website, capsys):
    stub_api["students"] = {k: v for k, v in LAB.items() if k != "Omar"}
    url = website(stub_api["url"])
    assert website_check.main(["--url", url, "--expect-students", "6"]) == 1
    assert "expected 6 student rows, found 5" in capsys.readouterr().err


def test_wrong_age_fails(stub_api, website, capsys):
    stub_api["students"] = {**LAB, "Sara": "24"}
    url = website(stub_api["url"])
    assert website_check.main(["--url", url, "--expect-students", "6"]) == 1
    assert "Sara (23; page shows 24)" in capsys.readouterr().err


def test_error_message_on_page_fails(stub_api, website, capsys, tmp_path):
    url = website(stub_api["url"], password="wrong")
    shot = tmp_path / "fail.png"
    assert website_check.main(["--url", url, "--screenshot", str(shot)]) == 1
    err = capsys.readouterr().err
    assert "shows an error" in err and "credentials" in err
    assert shot.exists()  # screenshot of the failure


def test_unreachable_site_fails(capsys):
    assert website_check.main(["--url", f"http://127.0.0.1:{free_port()}", "--timeout", "5"]) == 1
    assert "could not be opened" in capsys.readouterr().err


def test_missing_browser_is_exit_2(capsys, tmp_path):
    code = website_check.main(
        ["--url", "http://127.0.0.1:9", "--chromium", str(tmp_path / "no-chromium")]
    )
    assert code == 2
    assert "chromium not found" in capsys.readouterr().err
