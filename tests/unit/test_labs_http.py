"""Unit tests of the shared HTTP client, against real local servers."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from ansible.module_utils import labs_http
from ansible.module_utils.labs_http import (
    HttpError, Response, json_path_get, parse_link_header, request, split_json_path,
    wait_until)

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from fakes import FakeServer, Reply, make_pki  # noqa: E402


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Response ---------------------------------------------------------------

def test_response_decodes_text_json_and_lowercases_headers():
    response = Response(200, {"Content-Type": "application/json; charset=latin-1"},
                        '{"name": "Zo\u00e9"}'.encode("latin-1"), "http://x/")
    assert response.headers["content-type"].startswith("application/json")
    assert response.text() == '{"name": "Zo\u00e9"}'
    assert response.json() == {"name": "Zo\u00e9"}


def test_response_json_raises_value_error_on_html():
    with pytest.raises(ValueError):
        Response(200, {}, b"<html>", "http://x/").json()


def test_excerpt_marks_cut_bodies():
    response = Response(500, {}, b"x" * 600, "http://x/")
    assert response.excerpt(10) == "x" * 10 + "...[590 more characters]"
    assert response.excerpt() .startswith("x" * labs_http.EXCERPT_CHARS + "...")
    assert Response(200, {}, b"short", "http://x/").excerpt() == "short"


# --- request over plain HTTP -------------------------------------------------

def test_get_returns_status_headers_body_and_sends_headers():
    with FakeServer(lambda req: Reply(200, {"ok": True}, {"X-Thing": "1"})) as srv:
        response = request(srv.url + "/health?x=1", headers={"X-Probe": "yes"})
    assert response.status == 200
    assert response.json() == {"ok": True}
    assert response.headers["x-thing"] == "1"
    assert response.url == srv.url + "/health?x=1"
    (req,) = srv.requests
    assert (req.method, req.path, req.query) == ("GET", "/health", {"x": ["1"]})
    assert req.headers["x-probe"] == "yes"
    assert req.auth is None


def test_non_ascii_path_and_query_are_percent_encoded():
    with FakeServer(lambda req: Reply(200, {"ok": True})) as srv:
        response = request(srv.url + "/students/Zoé?city=Salé")
    assert response.status == 200
    (req,) = srv.requests
    assert (req.path, req.query) == ("/students/Zoé", {"city": ["Salé"]})


def test_to_uri_leaves_an_encoded_url_alone():
    encoded = "http://h:1/a%20b/Zo%C3%A9?q=%2F&r=s#f"
    assert labs_http.to_uri(encoded) == encoded
    assert labs_http.to_uri("http://h:1/Zoé") == "http://h:1/Zo%C3%A9"


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
def test_error_statuses_are_responses_not_exceptions(status):
    with FakeServer(lambda req: Reply(status, "broken")) as srv:
        response = request(srv.url + "/")
    assert response.status == status
    assert response.text() == "broken"


def test_head_has_empty_body():
    with FakeServer(lambda req: Reply(200, "a body that HEAD must not read")) as srv:
        response = request(srv.url + "/", method="HEAD")
    assert response.status == 200
    assert response.body == b""
    assert srv.requests[0].method == "HEAD"


def test_basic_auth_is_sent_preemptively():
    with FakeServer(lambda req: Reply(200 if req.auth == ("toto", "p:w") else 401)) as srv:
        assert request(srv.url + "/", username="toto", password="p:w").status == 200
        assert request(srv.url + "/").status == 401
    assert len(srv.requests) == 2  # no challenge round trip


def test_data_is_sent_as_json_or_bytes():
    with FakeServer(lambda req: Reply(201, req.body, {"Content-Type": req.headers["content-type"]})) as srv:
        as_json = request(srv.url + "/", method="POST", data={"a": [1, 2]})
        as_bytes = request(srv.url + "/", method="PUT", data=b"raw",
                           headers={"Content-Type": "text/plain"})
    assert as_json.status == 201 and as_json.json() == {"a": [1, 2]}
    assert as_json.headers["content-type"] == "application/json"
    assert as_bytes.body == b"raw" and as_bytes.headers["content-type"] == "text/plain"


def test_redirects_are_returned_not_followed():
    def handler(req):
        if req.path == "/old":
            return Reply(302, "", {"Location": "/new"})
        return Reply(200, "new")
    with FakeServer(handler) as srv:
        response = request(srv.url + "/old", username="u", password="secret")
    assert response.status == 302
    assert response.headers["location"] == "/new"
    assert [r.path for r in srv.requests] == ["/old"]


def test_repeated_headers_are_joined():
    reply = Reply(200, "", {"Link": ['</a>; rel="next"', '</b>; rel="last"']})
    with FakeServer(lambda req: reply) as srv:
        response = request(srv.url + "/")
    assert parse_link_header(response.headers["link"], srv.url + "/x") == {
        "next": srv.url + "/a", "last": srv.url + "/b"}


# --- connection level failures -----------------------------------------------

def test_connection_refused_raises_http_error():
    url = "http://127.0.0.1:%d/" % free_port()
    with pytest.raises(HttpError) as info:
        request(url, timeout=2)
    assert info.value.url == url
    assert "refused" in str(info.value).lower()


def test_timeout_raises_http_error():
    release = threading.Event()

    def slow(req):
        release.wait(5)
        return Reply(200, "late")
    with FakeServer(slow) as srv:
        started = time.monotonic()
        with pytest.raises(HttpError, match="timed out"):
            request(srv.url + "/", timeout=0.3)
        release.set()
    assert time.monotonic() - started < 3


def test_reply_without_http_raises_http_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def hang_up():
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.close()
    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        with pytest.raises(HttpError):
            request("http://127.0.0.1:%d/" % listener.getsockname()[1], timeout=3)
    finally:
        thread.join(3)
        listener.close()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "127.0.0.1:5000/v2/", "http:///nohost"])
def test_non_http_urls_raise_http_error(url):
    with pytest.raises(HttpError, match="not an http"):
        request(url)


# --- TLS ------------------------------------------------------------------------

def test_tls_verified_with_ca_path(pki):
    with FakeServer(lambda req: Reply(200, "secure"), tls=(pki["cert"], pki["key"])) as srv:
        assert srv.url.startswith("https://")
        response = request(srv.url + "/", ca_path=pki["ca"])
        localhost = request(srv.url.replace("127.0.0.1", "localhost") + "/", ca_path=pki["ca"])
    assert response.text() == "secure"
    assert localhost.status == 200


def test_tls_directory_ca_path(pki, tmp_path):
    import subprocess
    import shutil
    shutil.copy(pki["ca"], tmp_path / "ca.pem")
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", pki["ca"]],
                                  capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / (subject_hash + ".0")).symlink_to(tmp_path / "ca.pem")
    with FakeServer(lambda req: Reply(200, "ok"), tls=(pki["cert"], pki["key"])) as srv:
        assert request(srv.url + "/", ca_path=str(tmp_path)).status == 200


def test_tls_unknown_ca_raises_http_error(pki):
    with FakeServer(lambda req: Reply(200, "secure"), tls=(pki["cert"], pki["key"])) as srv:
        with pytest.raises(HttpError, match="certificate verify failed"):
            request(srv.url + "/")  # system trust store does not know the test CA
        assert srv.requests == []


def test_tls_validate_certs_false_skips_verification(pki):
    with FakeServer(lambda req: Reply(200, "secure"), tls=(pki["cert"], pki["key"])) as srv:
        assert request(srv.url + "/", validate_certs=False).text() == "secure"


def test_tls_wrong_ca_file_raises_http_error(pki, tmp_path):
    other = make_pki(tmp_path)  # a different CA
    with FakeServer(lambda req: Reply(200, "secure"), tls=(pki["cert"], pki["key"])) as srv:
        with pytest.raises(HttpError, match="certificate verify failed"):
            request(srv.url + "/", ca_path=other["ca"])
        with pytest.raises(HttpError, match="cannot load CA"):
            request(srv.url + "/", ca_path=str(tmp_path / "missing.pem"))


# --- wait_until -----------------------------------------------------------------

class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self):
        return self.now


def test_wait_until_returns_first_truthy_result():
    fake = FakeTime()
    results = iter([None, 0, "ready", "never reached"])
    result, attempts, elapsed = wait_until(lambda: next(results), retries=5, delay=2,
                                           sleep=fake.sleep, clock=fake.clock)
    assert (result, attempts) == ("ready", 3)
    assert fake.sleeps == [2, 3.0]
    assert elapsed == pytest.approx(5.0)


def test_wait_until_gives_up_after_retries_with_capped_backoff():
    fake = FakeTime()
    calls = []
    result, attempts, elapsed = wait_until(lambda: calls.append(1) or False, retries=4, delay=4,
                                           backoff=2, max_delay=10, sleep=fake.sleep,
                                           clock=fake.clock)
    assert result is False
    assert attempts == len(calls) == 5
    assert fake.sleeps == [4, 8, 10, 10]  # none after the last attempt
    assert elapsed == pytest.approx(32)


def test_wait_until_zero_retries_calls_once():
    fake = FakeTime()
    assert wait_until(lambda: [], retries=0, delay=1, sleep=fake.sleep,
                      clock=fake.clock) == ([], 1, 0)
    assert fake.sleeps == []


def test_wait_until_propagates_exceptions_and_rejects_negative_values():
    def boom():
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        wait_until(boom, retries=3, delay=0)
    with pytest.raises(ValueError):
        wait_until(lambda: True, retries=-1, delay=0)


def test_wait_until_really_sleeps_by_default():
    started = time.monotonic()
    _, attempts, elapsed = wait_until(lambda: False, retries=2, delay=0.05, backoff=1)
    assert attempts == 3
    assert 0.1 <= elapsed < 1
    assert time.monotonic() - started >= 0.1


# --- Link headers and JSON paths -----------------------------------------------

def test_parse_link_header():
    value = '</v2/_catalog?last=b&n=2>; rel="next", <https://other/x>; rel="prev first"'
    assert parse_link_header(value, "http://r:5000/v2/_catalog?n=2") == {
        "next": "http://r:5000/v2/_catalog?last=b&n=2",
        "prev": "https://other/x", "first": "https://other/x"}
    assert parse_link_header(value) ["next"] == "/v2/_catalog?last=b&n=2"
    assert parse_link_header(None) == {}
    assert parse_link_header("</x>; title=\"t\"") == {}


@pytest.mark.parametrize("path, parts", [
    (None, []),
    ("", []),
    ("student_ages.alice", ["student_ages", "alice"]),
    (r"config.labs\.example\.com.port", ["config", "labs.example.com", "port"]),
    (r"a\\.b", ["a\\", "b"]),
    (["return", "body"], ["return", "body"]),
])
def test_split_json_path(path, parts):
    assert split_json_path(path) == parts


def test_json_path_get():
    doc = {"student_ages": {"alice": 23}, "items": [{"id": 7}], "a.b": {"c": None}}
    assert json_path_get(doc, "student_ages.alice") == 23
    assert json_path_get(doc, "items.0.id") == 7
    assert json_path_get(doc, ["items", -1, "id"]) == 7
    assert json_path_get(doc, r"a\.b.c") is None
    assert json_path_get(doc, None) is doc
    with pytest.raises(LookupError, match="json path student_ages.bob not found"):
        json_path_get(doc, "student_ages.bob")
    with pytest.raises(LookupError, match="items.1"):
        json_path_get(doc, "items.1.id")
    with pytest.raises(LookupError):
        json_path_get(doc, "student_ages.alice.x")
