"""The PHP page, run by the host's php-cli built-in server against a stub API.

Needs the ``php`` command (Debian: ``apt-get install php-cli``); without it the
root conftest.py stops the run and names it (make test-deps installs it). The page is rendered by the same index.php and ini file the image
uses; the rendered HTML table is parsed and compared cell by cell.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

PHP = shutil.which("php")

SITE = Path(__file__).resolve().parents[1]
PUBLIC = SITE / "src" / "public"
INI = SITE / "conf" / "php-website.ini"
API_PATH = "/supmit/api/v1.0/get_student_ages"
USER, PASSWORD = "teacher", "pa55word"
LAB_STUDENTS = {"Ahmed": "20", "Amine": "20", "Hiba": "21", "Meryem": "23", "Omar": "20", "Sara": "23"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StubApi:
    """A stand-in for the student API with switchable behaviour."""

    def __init__(self):
        self.students = dict(LAB_STUDENTS)
        self.mode = "ok"  # ok | error500 | garbage
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                stub.requests.append((self.path, self.headers.get("Authorization")))
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.path != API_PATH:
                    return self._send(404, {"error": "Not found"})
                if self.headers.get("Authorization") != expected:
                    return self._send(401, {"error": "Unauthorized access"})
                if stub.mode == "error500":
                    return self._send(500, {"error": "Internal server error"})
                if stub.mode == "garbage":
                    return self._send(200, None, raw=b"<html>not json</html>")
                return self._send(200, {"student_ages": stub.students})

            def _send(self, status, doc, raw=None):
                body = raw if raw is not None else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PhpSite:
    def __init__(self, tmp_path, env):
        self.port = free_port()
        self.log_path = tmp_path / "php.log"
        self.log = open(self.log_path, "wb")
        clean_env = {k: v for k, v in os.environ.items() if k not in ("USERNAME", "PASSWORD", "API_URL")}
        clean_env.update(env)
        self.proc = subprocess.Popen(
            [PHP, "-c", str(INI), "-S", f"127.0.0.1:{self.port}", "-t", str(PUBLIC)],
            env=clean_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("php -S did not start: " + self.output())

    def output(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def fetch(self, path="/", post=False):
        data = urllib.parse.urlencode({"submit": "1"}).encode() if post else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read().decode("utf-8"), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8"), dict(err.headers)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class PageParser(HTMLParser):
    """Collects the rows of table#students and the text of p#error."""

    def __init__(self):
        super().__init__()
        self.rows, self.headers, self.error = [], [], ""
        self.buttons = []
        self._in_table = self._in_error = self._in_button = False
        self._cell = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "students":
            self._in_table = True
        elif tag == "p" and attrs.get("id") == "error":
            self._in_error = True
        elif tag == "button":
            self._in_button = True
            self.buttons.append("")
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "p":
            self._in_error = False
        elif tag == "button":
            self._in_button = False
        elif self._in_table and tag in ("td", "th") and self._cell is not None:
            self._row.append((tag, self._cell))
            self._cell = None
        elif self._in_table and tag == "tr" and self._row is not None:
            if all(kind == "th" for kind, _ in self._row):
                self.headers = [text for _, text in self._row]
            else:
                self.rows.append(tuple(text for _, text in self._row))
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in_error:
            self.error += data
        if self._in_button:
            self.buttons[-1] += data


def parse(html):
    parser = PageParser()
    parser.feed(html)
    return parser


@pytest.fixture()
def api():
    stub = StubApi()
    yield stub
    stub.close()


@pytest.fixture()
def site_factory(tmp_path):
    sites = []

    def make(**env):
        site = PhpSite(tmp_path, env)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


def assert_no_php_noise(html, site):
    for marker in ("Warning:", "Notice:", "Deprecated:", "Fatal error", "Stack trace", "<b>"):
        assert marker not in html
    log = site.output()
    assert "PHP Warning" not in log and "PHP Fatal" not in log and "PHP Deprecated" not in log


def test_first_visit_shows_only_the_button(api, site_factory):
    site = site_factory(API_URL=f"http://127.0.0.1:{api.port}", USERNAME=USER, PASSWORD=PASSWORD)
    status, html, headers = site.fetch()
    assert status == 200
    page = parse(html)
    assert page.buttons == ["List Student"]
    assert page.rows == [] and page.error == ""
    assert api.requests == []  # nothing asked before the click
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_list_student_renders_the_table(api, site_factory):
    site = site_factory(API_URL=f"http://127.0.0.1:{api.port}/", USERNAME=USER, PASSWORD=PASSWORD)
    status, html, _ = site.fetch(post=True)
    assert status == 200
    page = parse(html)
    assert page.headers == ["Name", "Age"]
    assert page.rows == sorted(LAB_STUDENTS.items())
    assert page.error == ""
    assert api.requests[-1][0] == API_PATH
    assert_no_php_noise(html, site)


def test_api_url_may_be_the_full_endpoint(api, site_factory):
    site = site_factory(API_URL=f"http://127.0.0.1:{api.port}{API_PATH}", USERNAME=USER, PASSWORD=PASSWORD)
    page = parse(site.fetch(post=True)[1])
    assert len(page.rows) == 6


def test_output_is_escaped(api, site_factory):
    api.students = {'<script>alert("x")</script>': "20", "O'Brien & Co": '<b>7</b>'}
    site = site_factory(API_URL=f"http://127.0.0.1:{api.port}", USERNAME=USER, PASSWORD=PASSWORD)
    status, html, _ = site.fetch(post=True)
    assert status == 200
    assert "<script>" not in html and "<b>7</b>" not in html
    assert "&lt;script&gt;" in html and "O&apos;Brien &amp; Co" in html
    assert sorted(parse(html).rows) == sorted(api.students.items())


def test_credentials_from_files_win(api, site_factory, tmp_path):
    (tmp_path / "user").write_text(USER + "\n")
    (tmp_path / "pass").write_text(PASSWORD + "\n")
    site = site_factory(
        API_URL=f"http://127.0.0.1:{api.port}",
        USERNAME="wrong",
        PASSWORD="wrong",
        USERNAME_FILE=str(tmp_path / "user"),
        PASSWORD_FILE=str(tmp_path / "pass"),
    )
    page = parse(site.fetch(post=True)[1])
    assert page.rows == sorted(LAB_STUDENTS.items())


def test_wrong_credentials_message(api, site_factory):
    site = site_factory(API_URL=f"http://127.0.0.1:{api.port}", USERNAME=USER, PASSWORD="nope")
    status, html, _ = site.fetch(post=True)
    assert status == 502
    page = parse(html)
    assert page.rows == []
    assert "refused the website's credentials" in page.error
    assert page.buttons == ["List Student"]
    assert_no_php_noise(html, site)
    assert "refused the website's credentials (HTTP 401)" in site.output()  # logged


def test_api_down_message(site_factory):
    site = site_factory(API_URL=f"http://127.0.0.1:{free_port()}", USERNAME=USER, PASSWORD=PASSWORD)
    status, html, _ = site.fetch(post=True)
    assert status == 502
    page = parse(html)
    assert "cannot be reached" in page.error
    assert page.rows == []
    assert_no_php_noise(html, site)
    assert "student API unreachable" in site.output()


@pytest.mark.parametrize("mode,fragment", [("error500", "HTTP 500"), ("garbage", "unexpected answer")])
def test_api_errors_message(api, site_factory, mode, fragment):
    api.mode = mode
    site = site_factory(API_URL=f"http://127.0.0.1:{api.port}", USERNAME=USER, PASSWORD=PASSWORD)
    status, html, _ = site.fetch(post=True)
    assert status == 502
    assert fragment in parse(html).error
    assert_no_php_noise(html, site)


def test_missing_credentials_message(api, site_factory):
    site = site_factory(API_URL=f"http://127.0.0.1:{api.port}")
    status, html, _ = site.fetch(post=True)
    assert status == 500
    assert "not configured" in parse(html).error
    assert api.requests == []
    assert_no_php_noise(html, site)


def test_unreadable_secret_file_message(api, site_factory, tmp_path):
    site = site_factory(
        API_URL=f"http://127.0.0.1:{api.port}", USERNAME=USER, PASSWORD_FILE=str(tmp_path / "absent")
    )
    status, html, _ = site.fetch(post=True)
    assert status == 500
    error = parse(html).error
    assert "PASSWORD_FILE cannot be read" in error
    assert str(tmp_path) not in error  # the path is logged, not shown
    assert_no_php_noise(html, site)


def test_bad_api_url_message(site_factory):
    site = site_factory(API_URL="ftp://example.invalid", USERNAME=USER, PASSWORD=PASSWORD)
    status, html, _ = site.fetch(post=True)
    assert status == 500
    assert "API_URL" in parse(html).error


def test_healthz(site_factory):
    site = site_factory()
    status, body, _ = site.fetch("/healthz.php")
    assert status == 200 and body == "ok\n"


def test_library_is_not_served(site_factory):
    site = site_factory()
    status, body, _ = site.fetch("/../lib/website.php")
    assert "STUDENT_API_PATH" not in body


# -- hostile input (issue #16) ---------------------------------------------------
@pytest.fixture()
def hostile_site(api, site_factory):
    """One php -S for all the examples of a test (fixtures are per test, not per example)."""
    return site_factory(API_URL=f"http://127.0.0.1:{api.port}", USERNAME=USER, PASSWORD=PASSWORD)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]),
       path=st.sampled_from(["/", "/index.php", "/healthz.php", "/style.css", "/{}", "/?{}"]),
       text=st.text(max_size=30),
       form=st.dictionaries(st.sampled_from(["submit", "submit[]", "x", "name", "a[b][c]"]), st.text(max_size=30),
                            max_size=3),
       content_type=st.sampled_from([None, "application/x-www-form-urlencoded", "text/plain",
                                     "multipart/form-data; boundary=x", "application/json"]))
def test_no_5xx_on_any_form_or_path_while_the_api_answers(hostile_site, method, path, text, form, content_type):
    site = hostile_site
    url = f"http://127.0.0.1:{site.port}" + path.format(urllib.parse.quote(text, safe=""))
    data = urllib.parse.urlencode(form).encode() if method not in ("GET", "HEAD") else None
    headers = {"Content-Type": content_type} if content_type and data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    assert status < 500, (method, url, form, status, site.output()[-500:])

