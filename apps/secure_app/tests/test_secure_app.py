"""secure_app's routes against an in-memory store (the MariaDB store is exercised by molecule/secure_app),
its settings, and property-based bad input: every answer is JSON and never a 5xx."""

from __future__ import annotations

import datetime
import json
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import secure_app
from secure_app import BadInput, ConfigError, StoreError, create_app


class MemoryStore:
    """The MariaDBStore interface, in memory; `down` makes every call fail like an unreachable database."""

    def __init__(self):
        self.rows, self.down = [], False

    def _check(self):
        if self.down:
            raise StoreError("cannot connect to secure-db:3306: timed out")

    def count(self):
        self._check()
        return len(self.rows)

    def add(self, author, body):
        self._check()
        row = {"id": len(self.rows) + 1, "author": author, "body": body,
               "created_at": datetime.datetime(2026, 1, 1).isoformat() + "Z"}
        self.rows.append(row)
        return row

    def get(self, message_id):
        self._check()
        return next((r for r in self.rows if r["id"] == message_id), None)

    def latest(self, limit):
        self._check()
        return list(reversed(self.rows))[:limit]


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def client(store):
    return create_app(store).test_client()


def test_index_reports_app_and_database(client, store):
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.json["app"] == "secure_app"
    assert answer.json["database"] == {"status": "ok", "messages": 0}
    store.down = True
    answer = client.get("/")
    assert answer.status_code == 503
    assert answer.json["database"] == {"status": "unavailable"}


def test_healthz_does_not_touch_the_database(client, store):
    store.down = True
    assert client.get("/healthz").json == {"status": "ok"}


def test_write_then_read(client):
    created = client.post("/api/messages", json={"author": " Zoé ", "body": "Bonjour 👋"})
    assert created.status_code == 201
    assert created.json["author"] == "Zoé" and created.json["body"] == "Bonjour 👋"
    client.post("/api/messages", json={"author": "Omar", "body": "second"})
    assert client.get(f"/api/messages/{created.json['id']}").json["body"] == "Bonjour 👋"
    listed = client.get("/api/messages?limit=1").json["messages"]
    assert [m["author"] for m in listed] == ["Omar"]
    assert len(client.get("/api/messages").json["messages"]) == 2
    assert client.get("/").json["database"]["messages"] == 2
    # Non-ASCII is sent as UTF-8, not as \u escapes.
    assert "Zoé".encode() in client.get(f"/api/messages/{created.json['id']}").data


@pytest.mark.parametrize("payload, message", [
    ({"author": "a"}, "missing field(s): body"),
    ({"author": "a", "body": "b", "admin": True}, "unknown field(s): admin"),
    ({"author": "", "body": "b"}, "'author' must not be empty"),
    ({"author": "   ", "body": "b"}, "'author' must not be empty"),
    ({"author": 3, "body": "b"}, "'author' must be a string"),
    ({"author": "a" * 65, "body": "b"}, "'author' must be at most 64 characters"),
    ({"author": "a", "body": "b" * 501}, "'body' must be at most 500 characters"),
    ({"author": "a\x00", "body": "b"}, "'author' must not contain control characters"),
    ({"author": "a", "body": "\ud800"}, "'body' must be valid Unicode text (no lone surrogate)"),
    ([1, 2], "the body must be a JSON object"),
    ("text", "the body must be a JSON object"),
])
def test_bad_messages_are_400_naming_the_problem(client, store, payload, message):
    answer = client.post("/api/messages", json=payload)
    assert answer.status_code == 400
    assert answer.json["error"].startswith(message)
    assert store.rows == []


def test_not_json_is_415_and_broken_json_400(client):
    assert client.post("/api/messages", data="author=a", content_type="application/x-www-form-urlencoded").status_code == 415
    answer = client.post("/api/messages", data="{not json", content_type="application/json")
    assert answer.status_code == 400 and answer.json["error"] == "the body is not valid JSON"
    assert client.post("/api/messages", data="", content_type="application/json").status_code == 400
    answer = client.post("/api/messages", data="null", content_type="application/json")
    assert answer.status_code == 400 and answer.json["error"].startswith("the body must be a JSON object")


def test_too_big_is_413(client):
    answer = client.post("/api/messages", data=json.dumps({"author": "a", "body": "b" * 20000}),
                         content_type="application/json")
    assert answer.status_code == 413 and answer.is_json


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5", "limit=", "limit=%C2%B2"])
def test_bad_limit_is_400(client, query):
    answer = client.get("/api/messages?" + query)
    assert answer.status_code == 400 and "limit" in answer.json["error"]


def test_unknown_message_path_method(client):
    assert client.get("/api/messages/99").status_code == 404
    assert client.get("/api/messages/99999999999").status_code == 400
    assert client.get("/nope").json == {"error": "Not Found", "status": 404}
    assert client.delete("/api/messages").status_code == 405


def test_database_down_is_503_not_500(client, store):
    store.down = True
    for answer in (client.get("/api/messages"), client.post("/api/messages", json={"author": "a", "body": "b"}),
                   client.get("/api/messages/1")):
        assert answer.status_code == 503 and answer.json["error"] == "database unavailable"


def test_settings_read_the_password_file(tmp_path):
    secret = tmp_path / "db_password"
    secret.write_text("s3cret\n")
    got = secure_app.db_settings({"DB_PASSWORD_FILE": str(secret), "DB_PASSWORD": "ignored", "DB_PORT": "3307"})
    assert (got.password, got.port, got.host, got.user, got.name) == ("s3cret", 3307, "secure-db", "appuser", "appdb")
    assert secure_app.db_settings({"DB_PASSWORD": "plain"}).password == "plain"


@pytest.mark.parametrize("environ, message", [
    ({}, "DB_PASSWORD_FILE (or DB_PASSWORD) is required"),
    ({"DB_PASSWORD_FILE": "/nonexistent/secret"}, "DB_PASSWORD_FILE=/nonexistent/secret cannot be read"),
    ({"DB_PASSWORD": "x", "DB_PORT": "http"}, "DB_PORT must be an integer"),
    ({"DB_PASSWORD": "x", "DB_PORT": "70000"}, "DB_PORT must be an integer"),
])
def test_bad_settings_are_refused(environ, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        secure_app.db_settings(environ)


def test_main_exits_2_on_bad_settings(capsys):
    with pytest.raises(SystemExit) as stop:
        secure_app.main({"DB_PASSWORD": "x", "LISTEN_PORT": "0"})
    assert stop.value.code == 2
    assert "LISTEN_PORT must be an integer from 1 to 65535" in capsys.readouterr().err


# ------------------------------------------------------------------ property-based bad input
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
payloads = json_values | st.fixed_dictionaries(
    {"author": json_values | st.text(max_size=80), "body": json_values | st.text(max_size=600)},
    optional={"extra": json_values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_any_json_payload_is_201_or_a_clear_400(payload):
    store = MemoryStore()
    answer = create_app(store).test_client().post("/api/messages", data=json.dumps(payload),
                                                  content_type="application/json")
    assert answer.status_code in (201, 400), answer.data
    assert answer.is_json
    if answer.status_code == 201:
        try:
            expected = secure_app.parse_message(payload)
        except BadInput:  # pragma: no cover - would be a bug
            pytest.fail("accepted a payload the validator refuses")
        assert (answer.json["author"], answer.json["body"]) == expected
        assert 1 <= len(expected[0]) <= 64 and 1 <= len(expected[1]) <= 500
    else:
        assert store.rows == [] and answer.json["error"]


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300))
def test_any_raw_body_is_never_5xx(raw):
    answer = create_app(MemoryStore()).test_client().post("/api/messages", data=raw, content_type="application/json")
    assert answer.status_code in (201, 400, 413) and answer.is_json


@settings(max_examples=200, deadline=None)
@given(limit=st.text(alphabet=string.printable + "²٣éÅ", max_size=8))
def test_any_limit_is_200_or_400(limit):
    answer = create_app(MemoryStore()).test_client().get("/api/messages", query_string={"limit": limit})
    assert answer.status_code in (200, 400) and answer.is_json
    if answer.status_code == 200:
        assert limit.isdigit() and 1 <= int(limit) <= 100


@settings(max_examples=200, deadline=None)
@given(path=st.text(alphabet=string.ascii_letters + string.digits + "/-_.%~", max_size=40),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
def test_any_path_and_method_is_never_5xx(path, method):
    # A full URL: "/" + "/." alone would read as a network-path reference (host ".") in the test client.
    answer = create_app(MemoryStore()).test_client().open("http://localhost/" + path, method=method)
    assert answer.status_code < 500
