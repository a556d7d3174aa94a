"""The student_api image, built and run hardened (marker ``docker``).

Skipped when no Docker engine answers or the base image (labs/python:bookworm)
is not there. Uses only 127.0.0.1-published ports and objects it creates.
"""

import base64
import importlib.util
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.docker

APP_DIR = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("app_context", APP_DIR.parents[1] / "scripts" / "app_context.py")
app_context = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(app_context)
BASE_IMAGE = "labs/python:bookworm"
TAG = "labs/student_api:pytest"
COLLECTION = "/supmit/api/v1.0/get_student_ages"
USER, PASSWORD = "teacher", "image-test-pw"
HARDENED = dict(read_only=True, tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"])


@pytest.fixture(scope="module")
def client():
    try:
        cli = docker.from_env(timeout=300)
        cli.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        pytest.skip(f"no Docker engine: {exc}")
    try:
        cli.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"base image {BASE_IMAGE} not built")
    yield cli
    cli.close()


@pytest.fixture(scope="module")
def image(client):
    # The build context as the images role stages it: the app's folder plus its shared code (SHARED).
    context = io.BytesIO()
    app_context.write_tar(app_context.context_files("student_api"), context)
    context.seek(0)
    img, _ = client.images.build(fileobj=context, custom_context=True, tag=TAG, rm=True, forcerm=True)
    return img


@pytest.fixture()
def scratch(client):
    """A network and a volume of our own, removed afterwards with every container."""
    suffix = uuid.uuid4().hex[:8]
    network = client.networks.create(f"sapi-test-{suffix}")
    volume = client.volumes.create(f"sapi-test-{suffix}")
    containers = []
    yield network, volume, containers
    for container in containers:
        container.remove(force=True)
    network.remove()
    volume.remove(force=True)


def run_api(client, image, network, volume, containers, **env):
    environment = {"API_USERNAME": USER, "API_PASSWORD": PASSWORD, **env}
    container = client.containers.run(
        image.id,
        detach=True,
        environment=environment,
        network=network.name,
        volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        ports={"5000/tcp": ("127.0.0.1", None)},
        **HARDENED,
    )
    containers.append(container)
    return container, wait_up(container)


def wait_up(container):
    """Base URL once the API answers (a random host port, new after a restart)."""
    deadline = time.monotonic() + 30
    while True:
        container.reload()
        ports = (container.attrs["NetworkSettings"]["Ports"] or {}).get("5000/tcp")
        if ports:
            break
        assert time.monotonic() < deadline, container.logs().decode()
        time.sleep(0.2)
    base = f"http://127.0.0.1:{int(ports[0]['HostPort'])}"
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # answering (maybe 503): up
        except OSError:
            container.reload()
            assert container.status == "running", container.logs().decode()
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)
    return base


def call(base, method, path, body=None, auth=True):
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_image_metadata(image):
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "5000/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]
    assert config["Labels"]["hub_url"] == "127.0.0.1:5001/labs/student_api"
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "/opt/venv/bin/python"]
    assert config["Cmd"] == ["/opt/venv/bin/python", "-m", "student_api.serve"]
    assert image.attrs["Size"] <= 150 * 1000 * 1000


def test_no_pip_in_image(client, image):
    out = client.containers.run(
        image.id, ["sh", "-c", "ls /opt/venv/bin; /opt/venv/bin/python -m pip --version || true"],
        remove=True, stderr=True, **HARDENED,
    ).decode()
    assert "gunicorn" in out
    assert "No module named pip" in out


@pytest.mark.parametrize(
    "env,fragment",
    [({"API_USERNAME": "", "API_PASSWORD": ""}, "not set"), ({"API_USERNAME": "root", "API_PASSWORD": "root"}, "root:root")],
)
def test_refuses_to_start(client, image, env, fragment):
    container = client.containers.run(image.id, detach=True, environment=env, **HARDENED)
    try:
        result = container.wait(timeout=60)
        logs = container.logs().decode().strip().splitlines()
    finally:
        container.remove(force=True)
    assert result["StatusCode"] == 2
    assert len(logs) == 1 and fragment in logs[0] and logs[0].startswith("student_api: configuration error")


def test_hardened_run_seeds_persists_and_protects_corrupt_data(client, image, scratch):
    network, volume, containers = scratch
    api, base = run_api(client, image, network, volume, containers)
    status, body = call(base, "GET", COLLECTION)
    assert status == 200 and len(body["student_ages"]) == 6
    assert call(base, "GET", COLLECTION, auth=False)[0] == 401
    assert call(base, "POST", COLLECTION, {"name": "Persisted", "age": 33})[0] == 201

    assert api.exec_run(["id", "-u"]).output.decode().strip() == "10001"
    pid1 = api.exec_run(["cat", "/proc/1/cmdline"]).output.replace(b"\0", b" ").decode()
    assert "student_api.serve" in pid1
    assert api.exec_run(["touch", "/app/x"]).exit_code != 0  # read-only root fs
    assert api.exec_run(["/opt/venv/bin/python", "-m", "student_api.healthcheck"]).exit_code == 0

    # A new container on the same volume keeps the data (no re-seed).
    api.remove(force=True)
    containers.remove(api)
    api, base = run_api(client, image, network, volume, containers)
    status, body = call(base, "GET", COLLECTION + "/Persisted")
    assert (status, body) == (200, {"Persisted": "33"})

    # A corrupt file: 503, the server keeps running, the file is left alone.
    assert api.exec_run(["sh", "-c", "printf '{\"broken' > /data/student_age.json"]).exit_code == 0
    api.restart(timeout=10)
    base = wait_up(api)
    status, body = call(base, "GET", "/healthz", auth=False)
    assert status == 503 and "not valid JSON" in body["error"]
    api.reload()
    assert api.status == "running"
    assert "DATA FILE PROBLEM" in api.logs().decode()
    assert api.exec_run(["cat", "/data/student_age.json"]).output == b'{"broken'
    assert api.exec_run(["/opt/venv/bin/python", "-m", "student_api.healthcheck"]).exit_code == 1
