"""Unit tests of library/http_healthcheck.py: main() in-process against real local servers."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

import http_healthcheck

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from fakes import FakeServer, Reply, make_pki, run_module  # noqa: E402

STUDENTS = {"student_ages": {"alice": 23, "bob": 31}, "return": {"body": "from backend"},
            "tags": ["a", "b"], "labs.example.com": {"up": True}}


def run(args, check_mode=False):
    return run_module(http_healthcheck, dict({"delay": 0}, **args), check_mode=check_mode)


def flaky(bad_replies, good=Reply(200, STUDENTS)):
    """A handler that answers each of ``bad_replies`` once, then ``good``."""
    pending = list(bad_replies)
    return lambda req: pending.pop(0) if pending else good


def test_healthy_at_first_attempt():
    with FakeServer(lambda req: Reply(200, "all good")) as srv:
        result = run({"url": srv.url + "/health"})
    assert "failed" not in result
    assert result["changed"] is False
    assert (result["status"], result["attempts"]) == (200, 1)
    assert result["url"] == srv.url + "/health"
    assert result["body_excerpt"] == "all good"
    assert "json_value" not in result
    assert result["elapsed"] >= 0


def test_retries_until_healthy():
    bad = [Reply(503, "starting"), Reply(502, "proxy"), Reply(200, {"student_ages": {}})]
    with FakeServer(flaky(bad)) as srv:
        result = run({"url": srv.url + "/", "json_path": "student_ages.alice", "retries": 5})
    assert "failed" not in result
    assert (result["status"], result["attempts"]) == (200, 4)
    assert result["json_value"] == 23
    assert len(srv.requests) == 4


def test_fails_with_last_status_reason_and_body_after_retries():
    with FakeServer(lambda req: Reply(503, "database is down")) as srv:
        result = run({"url": srv.url + "/", "retries": 2})
    assert result["failed"] is True
    assert result["attempts"] == 3 and len(srv.requests) == 3
    assert result["status"] == 503
    assert result["reason"] == "status 503 is not one of [200]"
    assert "not healthy after 3 attempt(s)" in result["msg"]
    assert "database is down" in result["msg"]
    assert result["body_excerpt"] == "database is down"


def test_other_expected_status():
    with FakeServer(lambda req: Reply(503, "maintenance")) as srv:
        result = run({"url": srv.url + "/", "status_code": [200, 503], "retries": 0})
    assert "failed" not in result and result["status"] == 503


def test_redirect_is_not_followed():
    with FakeServer(lambda req: Reply(302, "", {"Location": "/login"})) as srv:
        failed = run({"url": srv.url + "/", "retries": 0})
        accepted = run({"url": srv.url + "/", "retries": 0, "status_code": [302]})
    assert failed["failed"] and failed["status"] == 302
    assert "failed" not in accepted
    assert [r.path for r in srv.requests] == ["/", "/"]


@pytest.mark.parametrize("extra, value", [
    ({"json_path": "student_ages.alice", "json_equals": 23}, 23),
    ({"json_path": ["return", "body"], "json_equals": "from backend"}, "from backend"),
    ({"json_path": "return.body", "json_contains": "backend"}, "from backend"),
    ({"json_path": "tags", "json_contains": "b"}, ["a", "b"]),
    ({"json_path": "tags", "json_contains": ["b", "a"]}, ["a", "b"]),
    ({"json_path": "student_ages", "json_contains": "bob"}, {"alice": 23, "bob": 31}),
    ({"json_path": "student_ages", "json_contains": {"bob": 31}}, {"alice": 23, "bob": 31}),
    ({"json_path": r"labs\.example\.com.up", "json_equals": True}, True),
    ({"json_path": "tags.1"}, "b"),
    ({"json_contains": "tags"}, STUDENTS),
])
def test_json_checks_pass(extra, value):
    with FakeServer(lambda req: Reply(200, STUDENTS)) as srv:
        result = run(dict({"url": srv.url + "/", "retries": 0}, **extra))
    assert "failed" not in result, result["msg"]
    assert result["json_value"] == value


@pytest.mark.parametrize("extra, reason", [
    ({"json_path": "student_ages.alice", "json_equals": 24},
     "value at student_ages.alice is 23, expected 24"),
    ({"json_path": "student_ages.alice", "json_equals": "23"},
     "value at student_ages.alice is 23, expected '23'"),
    ({"json_path": "student_ages.carol"}, "json path student_ages.carol not found"),
    ({"json_path": "return.body", "json_contains": "frontend"},
     "value at return.body 'from backend' does not contain 'frontend'"),
    ({"json_path": "tags", "json_contains": ["a", "z"]},
     "value at tags ['a', 'b'] does not contain ['a', 'z']"),
    ({"json_path": "student_ages", "json_contains": {"bob": 30}},
     "value at student_ages {'alice': 23, 'bob': 31} does not contain {'bob': 30}"),
    ({"body_contains": "carol"}, "body does not contain 'carol'"),
])
def test_json_checks_fail_with_reason(extra, reason):
    with FakeServer(lambda req: Reply(200, STUDENTS)) as srv:
        result = run(dict({"url": srv.url + "/", "retries": 1}, **extra))
    assert result["failed"] is True
    assert result["reason"] == reason
    assert result["attempts"] == 2
    assert reason in result["msg"]


def test_body_not_json():
    with FakeServer(lambda req: Reply(200, "<html>hello</html>")) as srv:
        result = run({"url": srv.url + "/", "retries": 0, "json_path": "a"})
    assert result["failed"] and result["reason"] == "body is not JSON"
    assert "<html>hello</html>" in result["msg"]


def test_body_contains():
    with FakeServer(lambda req: Reply(200, "<title>Student Checking App</title>")) as srv:
        result = run({"url": srv.url + "/", "body_contains": "Student Checking App"})
    assert "failed" not in result


def test_basic_auth_and_password_hidden():
    def handler(req):
        if req.auth != ("toto", "s3cr3t-pw"):
            return Reply(401, "s3cr3t-pw is wrong", {"WWW-Authenticate": 'Basic realm="x"'})
        return Reply(200, STUDENTS)
    with FakeServer(handler) as srv:
        denied = run({"url": srv.url + "/", "retries": 0, "url_username": "toto",
                      "url_password": "s3cr3t-pw-not"})
        allowed = run({"url": srv.url + "/", "url_username": "toto", "url_password": "s3cr3t-pw",
                       "json_path": "student_ages.bob", "json_equals": 31})
    assert denied["failed"] and denied["status"] == 401
    assert "failed" not in allowed and allowed["json_value"] == 31
    assert "s3cr3t-pw" not in json.dumps(allowed)  # no_log masks the password in results


def test_headers_and_method_are_sent():
    with FakeServer(lambda req: Reply(200, "")) as srv:
        result = run({"url": srv.url + "/", "method": "HEAD", "headers": {"X-Probe": "labs"}})
    assert "failed" not in result
    assert srv.requests[0].method == "HEAD"
    assert srv.requests[0].headers["x-probe"] == "labs"


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run({"url": "http://127.0.0.1:%d/" % port, "retries": 2, "timeout": 2})
    assert result["failed"] is True
    assert result["attempts"] == 3
    assert result["status"] is None
    assert result["body_excerpt"] == ""
    assert "refused" in result["reason"].lower()


def test_tls_with_ca_path(tmp_path):
    pki = make_pki(tmp_path)
    with FakeServer(lambda req: Reply(200, {"ok": True}), tls=(pki["cert"], pki["key"])) as srv:
        trusted = run({"url": srv.url + "/", "ca_path": pki["ca"], "json_path": "ok",
                       "json_equals": True})
        untrusted = run({"url": srv.url + "/", "retries": 0})
        unverified = run({"url": srv.url + "/", "retries": 0, "validate_certs": False})
    assert "failed" not in trusted and trusted["json_value"] is True
    assert untrusted["failed"] and "certificate verify failed" in untrusted["msg"]
    assert "failed" not in unverified


def test_runs_in_check_mode():
    with FakeServer(lambda req: Reply(200, STUDENTS)) as srv:
        result = run({"url": srv.url + "/", "json_path": "student_ages.alice"}, check_mode=True)
    assert "skipped" not in result and "failed" not in result
    assert result["changed"] is False and result["json_value"] == 23
    assert len(srv.requests) == 1


@pytest.mark.parametrize("args, message", [
    ({"method": "HEAD", "body_contains": "x"}, "method HEAD has no body"),
    ({"method": "HEAD", "json_path": "a"}, "method HEAD has no body"),
    ({"retries": -1}, "retries and delay must be >= 0"),
    ({"backoff": 0.5}, "backoff must be >= 1"),
    ({"method": "POST"}, "value of method must be one of"),
    ({"ca_path": "/nonexistent/ca.pem"}, "ca_path /nonexistent/ca.pem does not exist"),
])
def test_invalid_arguments(args, message):
    result = run(dict({"url": "http://127.0.0.1:9/"}, **args))
    assert result["failed"] is True
    assert message in result["msg"]
