"""Hostile input (issue #16), one property per class of hole, via hypothesis.

Both the full app (read fast path included) and Flask alone are exercised.
"""

import base64
import json
import string
import unicodedata
import urllib.parse

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from student_api.app import COLLECTION, create_app
from student_api.config import Settings
from student_api.metrics import KNOWN_METHODS
from student_api.names import identity, normalize
from student_api.store import StudentStore
from labs_common.throttle import FailureThrottle

USER, PASSWORD = "teacher", "s3cret-Pa55"
GOOD = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
AUTH = {"Authorization": GOOD}


def bounded(examples):
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "data" / "student_age.json"
    StudentStore(str(path)).seed_if_empty()
    return path


def make_app(data_file, **extra):
    options = dict(username=USER, password=PASSWORD, data_file=str(data_file))
    options.update(extra)
    return create_app(Settings(**options))


@pytest.fixture()
def app(data_file):
    # The throttle is off here: these tests send many wrong credentials on purpose.
    return make_app(data_file, auth_failure_limit=0)


# ------------------------------------------------------------ never a 5xx
def nested(depth, open_="[", close="]"):
    return (open_ * depth + close * depth).encode()


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={"name": json_values, "age": json_values}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.integers(1, 15000).map(nested),  # deeply nested arrays (RecursionError in json)
    st.integers(1, 3000).map(lambda n: nested(n, '{"a":' , "}")[: -n] + b"1" + b"}" * n),
)
content_types = st.sampled_from([
    None, "application/json", "application/json; charset=utf-8", "application/json; charset=utf-16",
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/merge-patch+json", "application/json;;;", "\u00e9/\u00e9",
])
# Any latin-1 header value a client can put on the wire (non-ASCII bytes included).
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=60)
authorizations = st.one_of(
    st.just(GOOD), st.none(), header_text, header_text.map(lambda t: "Basic " + t),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
)
methods = st.sampled_from(sorted(KNOWN_METHODS)) | st.text(string.ascii_uppercase + "-_!", min_size=1, max_size=12)
paths = st.sampled_from([COLLECTION, COLLECTION + "/{}", "/healthz", "/metrics", "/openapi.json", "/{}"])


@pytest.mark.parametrize("flask_only", [False, True], ids=["full", "flask-only"])
@bounded(300)
@given(method=methods, path=paths, name=st.text(max_size=30), body=bodies, content_type=content_types,
       authorization=authorizations)
@example(method="POST", path=COLLECTION, name="", body=nested(10000), content_type="application/json",
         authorization=GOOD)
@example(method="GET", path=COLLECTION, name="", body=None, content_type=None, authorization="Basic \u00e9\u00e9")
def test_no_5xx_on_any_malformed_input(app, flask_only, method, path, name, body, content_type, authorization):
    if flask_only:
        app.wsgi_app = app.extensions["student_flask_wsgi"]
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    url = path.format(urllib.parse.quote(name, safe=""))
    response = app.test_client().open(url, method=method, headers=headers, data=body)
    assert response.status_code < 500, (method, url, response.status_code, response.get_data()[:200])


# ------------------------------------------------------------ 415 for writes not in JSON
@bounded(150)
@given(
    content_type=st.none() | st.sampled_from([
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "text/json", "application/jsonx", "application/x-json",
    ]) | st.from_regex(r"\A[a-z]{1,10}/[a-z.+-]{1,15}\Z").filter(lambda t: t != "application/json"),
    write=st.sampled_from([("POST", COLLECTION), ("PUT", COLLECTION + "/Nadia")]),
)
def test_writes_not_sent_as_json_get_415_and_store_nothing(app, data_file, content_type, write):
    before = data_file.read_bytes()
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    body = json.dumps({"name": "Nadia", "age": 22}).encode()
    response = app.test_client().open(write[1], method=write[0], headers=headers, data=body)
    assert response.status_code == 415, (content_type, response.status_code)
    assert response.get_json()["error"] == "Unsupported media type"
    assert data_file.read_bytes() == before


def test_json_with_charset_is_still_accepted(app):
    response = app.test_client().post(
        COLLECTION, headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
        data=json.dumps({"name": "Nadia", "age": 22}).encode())
    assert response.status_code == 201


# ------------------------------------------------------------ truncated bodies
@bounded(100)
@given(cut=st.integers(0, 200), missing=st.integers(1, 500), method=st.sampled_from(["POST", "PUT"]))
def test_body_shorter_than_its_content_length_is_refused(app, data_file, cut, missing, method):
    body = json.dumps({"name": "Truncated", "age": 30}).encode()
    sent = body[:cut]
    before = data_file.read_bytes()
    url = COLLECTION if method == "POST" else COLLECTION + "/Truncated"
    response = app.test_client().open(
        url, method=method, headers={**AUTH, "Content-Type": "application/json"}, data=sent,
        # What gunicorn hands over when the client closes early: a terminated
        # stream with what arrived, and the Content-Length the client declared.
        environ_overrides={"CONTENT_LENGTH": str(len(sent) + missing), "wsgi.input_terminated": True})
    assert response.status_code == 400, response.get_data()
    assert data_file.read_bytes() == before


# ------------------------------------------------------------ bounded metric labels
@bounded(200)
@given(method=st.text(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~", min_size=1, max_size=20),
       path=st.sampled_from([COLLECTION, "/nowhere", "/healthz"]))
def test_invented_methods_add_no_metric_series(app, method, path):
    app.test_client().open(path, method=method)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    seen = {line.split('method="', 1)[1].split('"', 1)[0] for line in text.splitlines()
            if line.startswith("student_api_http_request") and 'method="' in line}
    assert seen <= KNOWN_METHODS | {"other"}, seen - KNOWN_METHODS


# ------------------------------------------------------------ look-alike names
def full_width(text):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


look_alikes = st.tuples(
    st.sampled_from(["Ahmed", "Amine", "Hiba", "Meryem", "Omar", "Sara"]),
    st.lists(st.sampled_from(["full-width", "nfd", "nfkd", "pad", "upper", "lower", "nbsp"]),
             min_size=1, max_size=4, unique=True),
    st.text(" \t\u00a0\u2003", max_size=3),
)


def disguise(name, changes, pad):
    for change in changes:
        name = {
            "full-width": full_width,
            "nfd": lambda n: unicodedata.normalize("NFD", n),
            "nfkd": lambda n: unicodedata.normalize("NFKD", n),
            "pad": lambda n: pad + n + pad,
            "upper": str.upper,
            "lower": str.lower,
            "nbsp": lambda n: "\u00a0" + n,
        }[change](name)
    return name


@bounded(200)
@given(case=look_alikes, age=st.integers(1, 150), how=st.sampled_from(["POST", "PUT"]))
@example(case=("Ahmed", ["full-width"], ""), age=30, how="POST")
@example(case=("Sara", ["pad"], " "), age=30, how="POST")
def test_a_look_alike_of_a_student_is_a_conflict(app, data_file, case, age, how):
    real, changes, pad = case
    name = disguise(real, changes, pad)
    before = data_file.read_bytes()
    client = app.test_client()
    if how == "POST":
        response = client.post(COLLECTION, headers=AUTH, json={"name": name, "age": age})
        assert response.status_code == 409, (name, response.get_json())
        assert data_file.read_bytes() == before
    else:
        response = client.put(COLLECTION + "/" + urllib.parse.quote(name, safe=""), headers=AUTH,
                              json={"age": age})
        if normalize(name) == real:  # the same spelling once normalized: an update of the student
            assert response.status_code == 200
        else:
            assert response.status_code == 409, (name, response.get_json())
            assert data_file.read_bytes() == before
    stored = json.loads(data_file.read_text("utf-8"))
    assert len({identity(n) for n in stored}) == len(stored) == 6


def test_names_are_stored_nfc_and_trimmed(app, data_file):
    decomposed = "  Zoe\u0301  "
    response = app.test_client().post(COLLECTION, headers=AUTH, json={"name": decomposed, "age": 19})
    assert response.status_code == 201
    assert response.get_json() == {"Zo\u00e9": "19"}
    assert "Zo\u00e9" in json.loads(data_file.read_text("utf-8"))
    # the decomposed spelling in a URL addresses the same student
    got = app.test_client().get(COLLECTION + "/" + urllib.parse.quote("Zoe\u0301"), headers=AUTH)
    assert got.get_json() == {"Zo\u00e9": "19"}


# ------------------------------------------------------------ redirects ignore Host
hosts = st.one_of(
    st.sampled_from(["evil.example", "evil.example:8443", "[::1]:1", "a@b", "localhost"]),
    st.from_regex(r"\A[a-z0-9.-]{1,30}(:[0-9]{1,5})?\Z"),
)


@pytest.mark.parametrize("flask_only", [False, True], ids=["full", "flask-only"])
@bounded(100)
@given(host=hosts, path=st.sampled_from([
    "/supmit//api/v1.0/get_student_ages", "//supmit/api/v1.0/get_student_ages",
    "/supmit/api/v1.0//get_student_ages/Hiba", "//healthz", "/openapi.json//",
]))
def test_redirects_never_echo_the_host_header(app, flask_only, host, path):
    if flask_only:
        app.wsgi_app = app.extensions["student_flask_wsgi"]
    response = app.test_client().get(path, headers={**AUTH, "Host": host})
    location = response.headers.get("Location")
    if response.status_code in (301, 302, 303, 307, 308):
        assert location is not None
    if location is not None:
        parts = urllib.parse.urlsplit(location)
        assert not parts.scheme and not parts.netloc, location
        assert location.startswith("/") and not location.startswith("//"), location


def test_merged_slashes_still_redirect_to_the_route(app):
    response = app.test_client().get("/supmit//api/v1.0/get_student_ages", headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.headers["Location"] == COLLECTION


# ------------------------------------------------------------ failed-login throttle
def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("flask_only", [False, True], ids=["full", "flask-only"])
def test_failed_logins_are_throttled_per_client_then_released(data_file, flask_only):
    app = make_app(data_file, auth_failure_limit=5, auth_failure_window=60)
    if flask_only:
        app.wsgi_app = app.extensions["student_flask_wsgi"]
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    for attempt in range(5):
        assert attacker.get(COLLECTION, headers=basic(USER, f"guess{attempt}")).status_code == 401
    blocked = attacker.get(COLLECTION, headers=basic(USER, "guess5"))
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert blocked.get_json()["error"] == "Too many requests"
    # while blocked even the right password tells nothing (no oracle)...
    assert attacker.get(COLLECTION, headers=AUTH).status_code == 429
    assert attacker.get(COLLECTION + "/Hiba", headers=AUTH).status_code == 429
    # ...and another client is not locked out
    assert other.get(COLLECTION, headers=AUTH).status_code == 200


def test_the_right_password_works_again_once_the_window_passed(data_file, monkeypatch):
    clock = Clock()
    monkeypatch.setattr("student_api.app.FailureThrottle",
                        lambda limit, window: FailureThrottle(limit, window, clock=clock))
    app = make_app(data_file, auth_failure_limit=3, auth_failure_window=30)
    client = app.test_client()
    for _ in range(3):
        assert client.get(COLLECTION, headers=basic(USER, "nope")).status_code == 401
    response = client.get(COLLECTION, headers=AUTH)
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    clock.now += 29
    assert client.get(COLLECTION, headers=AUTH).status_code == 429
    clock.now += 1.5
    assert client.get(COLLECTION, headers=AUTH).status_code == 200
