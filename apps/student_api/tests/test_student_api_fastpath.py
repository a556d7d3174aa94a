"""The read fast path must answer exactly as Flask does, and be used."""

import base64
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from student_api.app import COLLECTION, create_app, validate_name
from student_api.config import Settings
from student_api.names import identity, normalize
from student_api.store import StudentStore

USER, PASSWORD = "teacher", "pässwörd"
GOOD = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture()
def apps(tmp_path):
    path = tmp_path / "student_age.json"
    store = StudentStore(str(path))
    store.seed_if_empty()
    store.upsert("Zoé Ben Saïd", 19)
    store.upsert("a b", 44)
    config = Settings(username=USER, password=PASSWORD, data_file=str(path))
    fast = create_app(config)
    slow = create_app(config)
    slow.wsgi_app = slow.extensions["student_flask_wsgi"]
    return fast, slow


def answer(app, method, path, headers):
    response = app.test_client().open(path, method=method, headers=headers)
    return response.status_code, sorted(response.headers.items()), response.get_data()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "path",
    [
        COLLECTION,
        COLLECTION + "/",
        COLLECTION + "/Hiba",
        COLLECTION + "/Hiba/",
        COLLECTION + "/Nobody",
        COLLECTION + "/" + urllib.parse.quote("Zoé Ben Saïd"),
        COLLECTION + "/a%20b",
        COLLECTION + "/%FF",
        COLLECTION + "?x=1",
        "/supmit//api/v1.0/get_student_ages",
    ],
)
@pytest.mark.parametrize(
    "auth",
    [GOOD, None, "basic " + GOOD.split()[1], "Basic " + base64.b64encode(b"teacher:x").decode()],
    ids=["good", "none", "lowercase-scheme", "bad"],
)
def test_same_answers_with_and_without_fast_path(apps, method, path, auth):
    fast, slow = apps
    headers = {"Authorization": auth} if auth else {}
    assert answer(fast, method, path, headers) == answer(slow, method, path, headers)


def test_get_with_oversized_body_is_413_on_both_paths(apps):
    fast, slow = apps
    for app in (fast, slow):
        response = app.test_client().get(COLLECTION, headers={"Authorization": GOOD}, data=b"x" * 20000)
        assert response.status_code == 413


def test_fast_path_is_taken_and_counted(apps, monkeypatch):
    fast, _ = apps
    calls = []
    flask_wsgi = fast.extensions["student_flask_wsgi"]
    assert fast.wsgi_app is not flask_wsgi
    # Route Flask's own handling through the spy: hot requests must not reach it.
    import flask

    original = flask.Flask.full_dispatch_request

    def counting(self):
        calls.append(flask.request.path)
        return original(self)

    monkeypatch.setattr(flask.Flask, "full_dispatch_request", counting)
    client = fast.test_client()
    for _ in range(3):
        assert client.get(COLLECTION, headers={"Authorization": GOOD}).status_code == 200
        assert client.get(COLLECTION + "/Omar", headers={"Authorization": GOOD}).get_json() == {"Omar": "20"}
    assert calls == []  # all six answered by the fast path
    assert client.get(COLLECTION + "/Nobody", headers={"Authorization": GOOD}).status_code == 404
    assert calls == [COLLECTION + "/Nobody"]  # unknown student: Flask answers
    text = client.get("/metrics").get_data(as_text=True)
    assert f'student_api_http_requests_total{{endpoint="{COLLECTION}",method="GET",status="200"}} 3.0' in text
    assert (
        f'student_api_http_requests_total{{endpoint="{COLLECTION}/<name>",method="GET",status="200"}} 3.0'
        in text
    )


def test_fast_path_sees_writes_at_once(apps):
    fast, _ = apps
    client = fast.test_client()
    auth = {"Authorization": GOOD}
    assert len(client.get(COLLECTION, headers=auth).get_json()["student_ages"]) == 8
    assert client.put(COLLECTION + "/Omar", headers=auth, json={"age": 77}).status_code == 200
    assert client.get(COLLECTION + "/Omar", headers=auth).get_json() == {"Omar": "77"}
    assert client.get(COLLECTION, headers=auth).get_json()["student_ages"]["Omar"] == "77"
    assert client.delete(COLLECTION + "/Omar", headers=auth).status_code == 200
    assert client.get(COLLECTION + "/Omar", headers=auth).status_code == 404
    assert "Omar" not in client.get(COLLECTION, headers=auth).get_json()["student_ages"]


valid_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64
).filter(lambda n: validate_name(n) is None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=valid_names, age=st.integers(min_value=1, max_value=150))
def test_any_valid_name_round_trips(apps, name, age):
    """Stored under its NFC-trimmed spelling, or refused (409) as a look-alike
    of a stored name (the store keeps the examples' names)."""
    fast, slow = apps
    auth = {"Authorization": GOOD}
    before = fast.test_client().get(COLLECTION, headers=auth).get_json()["student_ages"]
    url = COLLECTION + "/" + urllib.parse.quote(name, safe="")
    put = fast.test_client().put(url, headers=auth, json={"age": age})
    name = normalize(name)
    twins = [other for other in before if identity(other) == identity(name) and other != name]
    if twins:
        assert put.status_code == 409, (name, twins, put.get_json())
        return
    assert put.status_code in (200, 201), put.get_json()
    url = COLLECTION + "/" + urllib.parse.quote(name, safe="")
    for app in (fast, slow):
        got = app.test_client().get(url, headers=auth)
        assert got.status_code == 200
        assert got.get_json() == {name: str(age)}
        assert app.test_client().get(COLLECTION, headers=auth).get_json()["student_ages"][name] == str(age)
