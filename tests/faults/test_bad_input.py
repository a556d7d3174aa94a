"""Bad input on every HTTP endpoint: never a 5xx.

Student API: every operation of its own /openapi.json gets random methods,
path names, bodies, content types and Authorization headers (hypothesis,
bounded max_examples); wrong credentials get 401 on every /supmit operation;
bodies over MAX_BODY_BYTES get 413 (with a length and chunked).
Frontend/backend of lab 003: random paths and methods get 404/405 (or a
redirect), never a 5xx; the documented /traceback (it ends the process on
purpose) is the one path left out.
"""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import faults_harness as harness
from faults_harness import http

pytestmark = pytest.mark.docker

HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
MAX_BODY_BYTES = 16384  # the API's default (apps/student_api/README.md)
BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


VALID = basic(harness.API_USER, harness.API_PASSWORD)
WRONG_AUTH = {
    "none": None,
    "wrong password": basic(harness.API_USER, harness.API_PASSWORD + "x"),
    "wrong user": basic("x" + harness.API_USER, harness.API_PASSWORD),
    "labs default": basic("ro" + "ot", "ro" + "ot"),
    "empty password": basic(harness.API_USER, ""),
    "no colon": "Basic " + base64.b64encode(harness.API_USER.encode()).decode(),
    "not base64": "Basic !!!%%%",
    "bearer": "Bearer " + harness.API_PASSWORD,
    "empty": "Basic ",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)
student_like = st.fixed_dictionaries({}, optional={
    "name": st.text(max_size=100) | json_values,
    "age": st.integers(-1000, 1000) | json_values,
    "extra": json_values,
})
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    json_values.map(lambda v: json.dumps(v).encode()),
    student_like.map(lambda v: json.dumps(v).encode()),
)
content_types = st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                                 "application/json; charset=utf-16", "multipart/form-data; boundary=x"])
# Half the examples carry the right credentials, so that bad bodies reach the validators.
authorizations = st.one_of(
    st.just(VALID), st.just(VALID), st.sampled_from(list(WRONG_AUTH.values())),
    # Any printable ASCII header value an HTTP client can send (no leading blank: requests refuses it).
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.lstrip))
path_texts = st.text(max_size=80)


@pytest.fixture(scope="module")
def api(apps):
    _container, url = apps["student_api"]
    spec = http("GET", url + "/openapi.json").json()
    operations = []
    for path, item in sorted(spec["paths"].items()):
        for method, operation in sorted(item.items()):
            if method.upper() in HTTP_METHODS:
                operations.append(dict(path=path, method=method.upper(),
                                       auth=bool(operation.get("security", spec.get("security"))),
                                       documented={int(s) for s in operation.get("responses", {}) if s.isdigit()}))
    assert len(operations) >= 7, operations
    return dict(url=url, spec=spec, operations=operations,
                paths=sorted(spec["paths"]), methods={(o["path"], o["method"]) for o in operations})


def fill(path, name):
    return path.replace("{name}", urllib.parse.quote(name, safe=""))


def send(url, method, path, body=None, content_type=None, authorization=None):
    headers = {}
    if content_type:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    harness.FIGURES.add("bad_input_examples")
    response = http(method, url + path, data=body, headers=headers)
    assert response is not None, "%s %s: no answer at all" % (method, path)
    return response


def allowed_on(api, path, method):
    return (path, method) in api["methods"] or (method == "HEAD" and (path, "GET") in api["methods"])


@BOUNDED
@given(data=st.data(), method=st.sampled_from(HTTP_METHODS), name=path_texts, body=bodies,
       content_type=content_types, authorization=authorizations)
def test_student_api_never_answers_5xx(api, data, method, name, body, content_type, authorization):
    operation = data.draw(st.sampled_from(api["operations"]))
    if data.draw(st.booleans()):
        method = operation["method"]  # half the time the documented method, else any
    path = fill(operation["path"], name)
    response = send(api["url"], method, path, body, content_type, authorization)
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    # A name the route can hold ('/' would end the path segment, '.'/'..' are dot segments).
    routable = "{name}" not in operation["path"] or (name and "/" not in name and name not in (".", ".."))
    if operation["auth"] and authorization != VALID and allowed_on(api, operation["path"], method) and routable:
        assert response.status_code == 401, (method, path, authorization, response.status_code)
    if method == operation["method"] and authorization == VALID:
        # A documented answer, or the router's 404/405 for a name the route cannot hold (e.g. '/').
        assert response.status_code in operation["documented"] | {404, 405}, (
            method, path, response.status_code, response.text[:300])


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(HTTP_METHODS), path=path_texts, authorization=authorizations)
def test_student_api_unknown_paths_are_json_404(api, method, path, authorization):
    path = "/" + urllib.parse.quote(path, safe="/")
    if path.startswith(harness.COLLECTION) or path in api["paths"]:
        return  # a known route: the other tests cover it
    response = send(api["url"], method, path, authorization=authorization)
    assert response.status_code in (404, 405, 308), (method, path, response.status_code)
    if response.status_code == 404 and method != "HEAD":
        assert response.json() == {"error": "Not found"}


@pytest.mark.parametrize("auth_name", sorted(WRONG_AUTH))
def test_student_api_wrong_credentials_get_401_everywhere(api, auth_name):
    checked = 0
    for operation in api["operations"]:
        if not operation["auth"]:
            continue
        path = fill(operation["path"], "Ahmed")
        body = json.dumps({"name": "Intruder", "age": 30}).encode() if operation["method"] in ("POST", "PUT") else None
        response = send(api["url"], operation["method"], path, body, "application/json", WRONG_AUTH[auth_name])
        assert response.status_code == 401, (operation, response.status_code, response.text)
        assert response.json() == {"error": "Unauthorized access"}
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
        checked += 1
    assert checked == 5  # GET/POST on the collection, GET/PUT/DELETE on one student
    assert "Ahmed" in http("GET", api["url"] + harness.COLLECTION, auth=(harness.API_USER, harness.API_PASSWORD)).text


@pytest.mark.parametrize("method, path", [("POST", harness.COLLECTION), ("PUT", harness.COLLECTION + "/Big")])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_student_api_oversized_body_gets_413(api, method, path, chunked):
    big = json.dumps({"name": "Big", "age": 20, "pad": "x" * MAX_BODY_BYTES}).encode()
    body = iter([big[i:i + 4096] for i in range(0, len(big), 4096)]) if chunked else big
    response = send(api["url"], method, path, body, "application/json", VALID)
    assert response.status_code == 413, (response.status_code, response.text)
    assert response.json()["error"] == "Request entity too large"
    # Exactly the limit is read (and refused as a bad body, not as too large).
    prefix = b'{"name": "Big", "age": 20, "pad": "'
    exact = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - 2) + b'"}'
    assert len(exact) == MAX_BODY_BYTES
    response = send(api["url"], method, path, exact, "application/json", VALID)
    assert response.status_code == 400 and "unknown field" in response.json()["message"]


# ------------------------------------------------------------ lab 003 pair
PAIR_ROUTES = {"/": {"GET", "HEAD", "OPTIONS"}, "/healthz": {"GET", "HEAD", "OPTIONS"}}


def pair_path(text):
    return "/" + urllib.parse.quote(text, safe="/?=&")


def pair_route(path):
    """The route Flask matches for a request path: the query cut off, leading slashes collapsed to one
    (werkzeug's Request.path; waitress passes a leading "//" through as it is, so "//healthz" is /healthz
    and "//" is /), not urlsplit's reading of "//x/..." as a host name."""
    return "/" + path.split("?", 1)[0].lstrip("/")


@pytest.mark.parametrize("app", ["api_backend", "api_frontend"])
def test_pair_never_answers_5xx(apps, app):
    _container, url = apps[app]

    @settings(max_examples=80, deadline=None)
    @given(method=st.sampled_from(HTTP_METHODS), text=path_texts, body=st.none() | st.binary(max_size=100))
    # Leading double slashes, which hypothesis found once in a clean-clone run: always tried.
    @example(method="GET", text="/", body=None)
    @example(method="GET", text="/healthz", body=None)
    @example(method="GET", text="/x/healthz", body=None)
    def check(method, text, body):
        path = pair_path(text)
        if "traceback" in urllib.parse.unquote(path).lower():
            return  # documented: ends the process on purpose (covered by the recovery tests)
        response = send(url, method, path, body)
        assert response.status_code < 500, (app, method, path, response.status_code)
        route = pair_route(path)
        if route in PAIR_ROUTES:
            expected = {200} if method in PAIR_ROUTES[route] else {405}
        else:
            expected = {404, 308}  # 308: werkzeug merges repeated slashes by redirecting
        assert response.status_code in expected, (app, method, path, response.status_code)

    check()
    assert http("GET", url + "/").status_code == 200  # and it still answers its contract


@pytest.mark.parametrize("app", ["api_backend", "api_frontend"])
def test_pair_unknown_path_answers_json_or_plain_404(apps, app):
    _container, url = apps[app]
    response = send(url, "GET", "/no-such-path")
    assert response.status_code == 404
    assert response.headers["Content-Type"].split(";")[0] in ("application/json", "text/plain")
