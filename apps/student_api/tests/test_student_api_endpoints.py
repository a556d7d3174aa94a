"""Every endpoint of the student ages API through Flask's test client."""

import base64
import json

import pytest

from student_api.app import COLLECTION, create_app
from student_api.config import Settings
from student_api.store import SEED_STUDENTS, StudentStore

USER, PASSWORD = "teacher", "s3cret-Pa55"


def basic(user=USER, password=PASSWORD):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


AUTH = basic()


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "data" / "student_age.json"
    StudentStore(str(path)).seed_if_empty()
    return path


@pytest.fixture()
def app(data_file):
    settings = Settings(
        username=USER, password=PASSWORD, data_file=str(data_file), max_body_bytes=1024
    )
    return create_app(settings)


@pytest.fixture()
def client(app):
    return app.test_client()


def on_disk(path):
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ lab contract
def test_list_returns_the_six_lab_students(client):
    response = client.get(COLLECTION, headers=AUTH)
    assert response.status_code == 200
    assert response.is_json
    # byte for byte what the labs' jsonify() sent: sorted keys, compact
    assert response.get_data() == (
        b'{"student_ages":{"Ahmed":"20","Amine":"20","Hiba":"21",'
        b'"Meryem":"23","Omar":"20","Sara":"23"}}\n'
    )
    assert response.get_json() == {
        "student_ages": {
            "Ahmed": "20",
            "Amine": "20",
            "Hiba": "21",
            "Meryem": "23",
            "Omar": "20",
            "Sara": "23",
        }
    }


def test_get_one_student(client):
    response = client.get(f"{COLLECTION}/Hiba", headers=AUTH)
    assert response.status_code == 200
    assert response.get_data() == b'{"Hiba":"21"}\n'
    assert response.headers["Content-Type"] == "application/json"


def test_reading_never_deletes(client, data_file):
    before = data_file.read_bytes()
    for _ in range(3):
        response = client.get(f"{COLLECTION}/Sara", headers=AUTH)
        assert response.status_code == 200
        assert response.get_json() == {"Sara": "23"}
    assert data_file.read_bytes() == before
    listing = client.get(COLLECTION, headers=AUTH).get_json()["student_ages"]
    assert listing["Sara"] == "23" and len(listing) == 6


def test_unknown_student_is_404_with_lab_body(client):
    response = client.get(f"{COLLECTION}/Nobody", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not found"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(USER, "wrong"),
        basic("wrong", PASSWORD),
        basic("root", "root"),
        basic(USER, PASSWORD + "x"),
        basic(USER, ""),
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!not-base64"},
    ],
    ids=["none", "bad-pass", "bad-user", "lab-root", "longer-pass", "empty-pass", "bearer", "garbage"],
)
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", COLLECTION),
        ("GET", f"{COLLECTION}/Ahmed"),
        ("GET", f"{COLLECTION}/Nobody"),
        ("POST", COLLECTION),
        ("PUT", f"{COLLECTION}/Ahmed"),
        ("DELETE", f"{COLLECTION}/Ahmed"),
    ],
)
def test_bad_or_missing_credentials_are_401(client, data_file, headers, method, path):
    before = data_file.read_bytes()
    response = client.open(path, method=method, headers=headers, json={"name": "X", "age": 3})
    assert response.status_code == 401
    assert response.get_json() == {"error": "Unauthorized access"}
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert data_file.read_bytes() == before  # nothing was written


def test_non_ascii_credentials(tmp_path):
    path = tmp_path / "student_age.json"
    StudentStore(str(path)).seed_if_empty()
    app = create_app(Settings(username="élève", password="mot-de-passe-été", data_file=str(path)))
    client = app.test_client()
    good = base64.b64encode("élève:mot-de-passe-été".encode()).decode()
    assert client.get(COLLECTION, headers={"Authorization": f"Basic {good}"}).status_code == 200
    assert client.get(COLLECTION, headers=basic("élève", "mot-de-passe-ete")).status_code == 401


# ------------------------------------------------------------------ management
def test_create_then_read(client, data_file):
    response = client.post(COLLECTION, headers=AUTH, json={"name": "Yasmine", "age": 22})
    assert response.status_code == 201
    assert response.get_json() == {"Yasmine": "22"}
    assert response.headers["Location"].endswith(f"{COLLECTION}/Yasmine")
    assert client.get(f"{COLLECTION}/Yasmine", headers=AUTH).get_json() == {"Yasmine": "22"}
    assert on_disk(data_file)["Yasmine"] == "22"
    assert len(on_disk(data_file)) == 7


def test_create_existing_is_409_and_unchanged(client, data_file):
    response = client.post(COLLECTION, headers=AUTH, json={"name": "Omar", "age": 99})
    assert response.status_code == 409
    assert response.get_json()["error"] == "Conflict"
    assert on_disk(data_file)["Omar"] == "20"


def test_put_updates_existing(client, data_file):
    response = client.put(f"{COLLECTION}/Omar", headers=AUTH, json={"age": 21})
    assert response.status_code == 200
    assert response.get_json() == {"Omar": "21"}
    assert client.get(f"{COLLECTION}/Omar", headers=AUTH).get_json() == {"Omar": "21"}
    assert on_disk(data_file)["Omar"] == "21"


def test_put_creates_missing(client, data_file):
    response = client.put(f"{COLLECTION}/Karim", headers=AUTH, json={"name": "Karim", "age": 30})
    assert response.status_code == 201
    assert on_disk(data_file)["Karim"] == "30"


def test_put_name_mismatch_is_400(client, data_file):
    response = client.put(f"{COLLECTION}/Karim", headers=AUTH, json={"name": "Other", "age": 30})
    assert response.status_code == 400
    assert "does not match" in response.get_json()["message"]
    assert "Karim" not in on_disk(data_file)


def test_delete(client, data_file):
    response = client.delete(f"{COLLECTION}/Ahmed", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {"deleted": "Ahmed"}
    assert client.get(f"{COLLECTION}/Ahmed", headers=AUTH).status_code == 404
    assert "Ahmed" not in on_disk(data_file)
    again = client.delete(f"{COLLECTION}/Ahmed", headers=AUTH)
    assert again.status_code == 404
    assert again.get_json() == {"error": "Not found"}


def test_unicode_name_round_trip(client, data_file):
    name = "Zoé Ben Saïd"
    assert client.post(COLLECTION, headers=AUTH, json={"name": name, "age": 19}).status_code == 201
    assert client.get(f"{COLLECTION}/{name}", headers=AUTH).get_json() == {name: "19"}
    assert on_disk(data_file)[name] == "19"


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"name": "", "age": 20}, "1 to 64"),
        ({"name": "x" * 65, "age": 20}, "1 to 64"),
        ({"name": "bad\nname", "age": 20}, "printable"),
        ({"name": "tab\there", "age": 20}, "printable"),
        ({"name": "nul\x00", "age": 20}, "printable"),
        ({"name": "   ", "age": 20}, "blank"),
        ({"name": "a/b", "age": 20}, "'/'"),
        ({"name": 42, "age": 20}, "string"),
        ({"name": None, "age": 20}, "string"),
        ({"name": "Ok", "age": 0}, "between 1 and 150"),
        ({"name": "Ok", "age": 151}, "between 1 and 150"),
        ({"name": "Ok", "age": -5}, "between 1 and 150"),
        ({"name": "Ok", "age": 20.5}, "between 1 and 150"),
        ({"name": "Ok", "age": "20"}, "between 1 and 150"),
        ({"name": "Ok", "age": True}, "between 1 and 150"),
        ({"name": "Ok", "age": None}, "between 1 and 150"),
        ({"name": "Ok"}, "missing field: age"),
        ({"age": 20}, "missing field: name"),
        ({"name": "Ok", "age": 20, "extra": 1}, "unknown field"),
    ],
)
def test_create_validation(client, data_file, body, fragment):
    before = data_file.read_bytes()
    response = client.post(COLLECTION, headers=AUTH, json=body)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["error"] == "Bad request"
    assert fragment in payload["message"]
    assert data_file.read_bytes() == before


def test_boundaries_are_accepted(client, data_file):
    assert client.post(COLLECTION, headers=AUTH, json={"name": "x" * 64, "age": 1}).status_code == 201
    assert client.post(COLLECTION, headers=AUTH, json={"name": "y", "age": 150}).status_code == 201
    stored = on_disk(data_file)
    assert stored["x" * 64] == "1" and stored["y"] == "150"


@pytest.mark.parametrize(
    "raw,fragment",
    [
        (b"", "JSON object"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_bodies(client, raw, fragment):
    response = client.post(COLLECTION, headers={**AUTH, "Content-Type": "application/json"}, data=raw)
    assert response.status_code == 400
    assert fragment in response.get_json()["message"]


@pytest.mark.parametrize("age", [0, 151, "12", 3.0])
def test_put_validation(client, data_file, age):
    response = client.put(f"{COLLECTION}/Omar", headers=AUTH, json={"age": age})
    assert response.status_code == 400
    assert on_disk(data_file)["Omar"] == "20"


def test_put_invalid_url_name(client):
    response = client.put(f"{COLLECTION}/{'n' * 65}", headers=AUTH, json={"age": 20})
    assert response.status_code == 400
    assert "1 to 64" in response.get_json()["message"]


def test_oversized_body_is_413(client, data_file):
    before = data_file.read_bytes()
    body = json.dumps({"name": "Big", "age": 20, "pad": "x" * 5000})
    response = client.post(
        COLLECTION, headers={**AUTH, "Content-Type": "application/json"}, data=body
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "Request entity too large"
    assert data_file.read_bytes() == before


def test_oversized_chunked_body_is_413(client, data_file):
    """No Content-Length: the limit still applies while reading the stream."""
    import io

    before = data_file.read_bytes()
    stream = io.BytesIO(json.dumps({"name": "Big", "age": 20, "pad": "y" * 5000}).encode())
    response = client.post(
        COLLECTION,
        headers={**AUTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        input_stream=stream,
        # as gunicorn announces for chunked requests
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert data_file.read_bytes() == before


def test_wrong_method_is_405_json(client):
    response = client.patch(COLLECTION, headers=AUTH, json={})
    assert response.status_code == 405
    assert response.get_json() == {"error": "Method not allowed"}
    assert "GET" in response.headers["Allow"]


def test_unknown_route_is_404_json(client):
    response = client.get("/nope", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not found"}


# ------------------------------------------------------------------ data file problems
def test_missing_file_gives_503_and_is_not_recreated(client, data_file):
    data_file.unlink()
    assert client.get(COLLECTION, headers=AUTH).status_code == 503
    health = client.get("/healthz")
    assert health.status_code == 503
    assert "does not exist" in health.get_json()["error"]
    write = client.post(COLLECTION, headers=AUTH, json={"name": "New", "age": 20})
    assert write.status_code == 503
    assert not data_file.exists()


def test_corrupt_file_gives_503_and_is_never_overwritten(client, data_file, caplog):
    assert client.get("/healthz").status_code == 200
    corrupt = b'{"Ahmed": "20", "Amine": '
    data_file.write_bytes(corrupt)
    with caplog.at_level("ERROR", logger="student_api"):
        response = client.get(COLLECTION, headers=AUTH)
    assert response.status_code == 503
    assert "not valid JSON" in response.get_json()["message"]
    assert any("not valid JSON" in r.getMessage() for r in caplog.records)
    assert client.get("/healthz").status_code == 503
    for method, path, body in (
        ("POST", COLLECTION, {"name": "New", "age": 20}),
        ("PUT", f"{COLLECTION}/Ahmed", {"age": 30}),
        ("DELETE", f"{COLLECTION}/Ahmed", None),
    ):
        assert client.open(path, method=method, headers=AUTH, json=body).status_code == 503
    assert data_file.read_bytes() == corrupt
    # Once fixed by a human, service resumes without a restart.
    data_file.write_text('{"Fixed": "33"}', encoding="utf-8")
    assert client.get("/healthz").status_code == 200
    assert client.get(COLLECTION, headers=AUTH).get_json() == {"student_ages": {"Fixed": "33"}}


def test_wrong_structure_is_corrupt(client, data_file):
    data_file.write_text('{"Ahmed": {"age": 20}}', encoding="utf-8")
    health = client.get("/healthz")
    assert health.status_code == 503
    assert "Ahmed" in health.get_json()["error"]


def test_external_change_is_picked_up(client, data_file):
    assert client.get(f"{COLLECTION}/Omar", headers=AUTH).get_json() == {"Omar": "20"}
    data = on_disk(data_file)
    data["Omar"] = "29"  # same size as "20": only the stat key/racy guard catches it
    data_file.write_text(json.dumps(data), encoding="utf-8")
    assert client.get(f"{COLLECTION}/Omar", headers=AUTH).get_json() == {"Omar": "29"}


# ------------------------------------------------------------------ operations
def test_healthz_ok_without_auth(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["students"] == 6
    assert body["version"].count(".") == 2


def test_metrics_prometheus_text(client):
    client.get(COLLECTION, headers=AUTH)
    client.get(f"{COLLECTION}/Nobody", headers=AUTH)
    client.get(COLLECTION)
    client.post(COLLECTION, headers=AUTH, json={"name": "Met", "age": 40})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    lines = text.splitlines()
    assert "# TYPE student_api_http_requests_total counter" in lines

    def sample(prefix):
        matches = [line for line in lines if line.startswith(prefix)]
        assert matches, prefix
        return float(matches[0].rsplit(" ", 1)[1])

    route = COLLECTION
    assert sample(
        f'student_api_http_requests_total{{endpoint="{route}",method="GET",status="200"}}'
    ) == 1.0
    assert sample(
        f'student_api_http_requests_total{{endpoint="{route}",method="GET",status="401"}}'
    ) == 1.0
    assert sample(
        f'student_api_http_requests_total{{endpoint="{route}/<name>",method="GET",status="404"}}'
    ) == 1.0
    assert sample("student_api_students ") == 7.0
    assert sample("student_api_data_file_healthy ") == 1.0
    assert sample('student_api_data_writes_total{operation="create"}') == 1.0
    assert "student_api_http_request_duration_seconds_bucket" in text


def test_openapi_document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert set(paths[COLLECTION]) == {"get", "post"}
    assert set(paths[COLLECTION + "/{name}"]) >= {"get", "put", "delete"}
    assert "/healthz" in paths and "/metrics" in paths
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)
