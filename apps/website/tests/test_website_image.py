"""The website image, built and run hardened next to a stub API container
(marker ``docker``). Skipped without a Docker engine or the base images."""

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.docker

SITE_DIR = Path(__file__).resolve().parents[1]
BASE_IMAGE = "labs/debian:bookworm"
STUB_IMAGE = "labs/python:bookworm"  # any image with python3 runs the stub API
TAG = "labs/website:pytest"
USER, PASSWORD = "teacher", "image-test-pw"
HARDENED = dict(read_only=True, tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"])

STUB_API = r"""
import base64, json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
GOOD = "Basic " + base64.b64encode(b"%s:%s").decode()
STUDENTS = {"Ahmed": "20", "Amine": "20", "Hiba": "21", "Meryem": "23", "Omar": "20", "Sara": "23"}
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == GOOD and self.path == "/supmit/api/v1.0/get_student_ages"
        body = json.dumps({"student_ages": STUDENTS} if ok else {"error": "Unauthorized access"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("0.0.0.0", 5000), H).serve_forever()
""" % (USER, PASSWORD)


class Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.error, self._cells, self._in, self._err = [], "", None, False, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._cells = []
        elif tag == "td" and self._cells is not None:
            self._in = True
            self._cells.append("")
        elif tag == "p" and ("id", "error") in attrs:
            self._err = True

    def handle_endtag(self, tag):
        if tag == "td":
            self._in = False
        elif tag == "tr" and self._cells:
            self.rows.append(tuple(self._cells))
            self._cells = None
        elif tag == "p":
            self._err = False

    def handle_data(self, data):
        if self._in:
            self._cells[-1] += data
        if self._err:
            self.error += data


@pytest.fixture(scope="module")
def client():
    try:
        cli = docker.from_env(timeout=300)
        cli.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Docker engine: {exc}")
    for name in (BASE_IMAGE, STUB_IMAGE):
        try:
            cli.images.get(name)
        except docker.errors.ImageNotFound:
            pytest.skip(f"base image {name} not built")
    yield cli
    cli.close()


@pytest.fixture(scope="module")
def image(client):
    img, _ = client.images.build(path=str(SITE_DIR), tag=TAG, rm=True, forcerm=True)
    return img


@pytest.fixture()
def stack(client, image):
    network = client.networks.create(f"website-test-{uuid.uuid4().hex[:8]}")
    containers = []
    stub = client.containers.create(
        STUB_IMAGE, ["python3", "-c", STUB_API], user="10001:10001", **HARDENED,
    )
    containers.append(stub)
    network.connect(stub, aliases=["student-api"])
    stub.start()
    probe = ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 5000), 1)"]
    deadline = time.monotonic() + 20
    while stub.exec_run(probe).exit_code != 0:
        assert time.monotonic() < deadline, stub.logs().decode()
        time.sleep(0.2)

    def website(**env):
        container = client.containers.run(
            image.id, detach=True, network=network.name, environment=env,
            ports={"8080/tcp": ("127.0.0.1", None)}, **HARDENED,
        )
        containers.append(container)
        deadline = time.monotonic() + 30
        while True:
            container.reload()
            ports = (container.attrs["NetworkSettings"]["Ports"] or {}).get("8080/tcp")
            if ports:
                base = f"http://127.0.0.1:{ports[0]['HostPort']}"
                try:
                    urllib.request.urlopen(base + "/healthz.php", timeout=2).read()
                    return container, base
                except OSError:
                    pass
            assert container.status in ("created", "running"), container.logs().decode()
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)

    yield website
    for container in containers:
        container.remove(force=True)
    network.remove()


def post_list(base):
    data = urllib.parse.urlencode({"submit": "1"}).encode()
    try:
        with urllib.request.urlopen(base + "/", data=data, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_image_metadata(image):
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Labels"]["hub_url"] == "127.0.0.1:5001/labs/website"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert config["StopSignal"] == "SIGWINCH"


def test_page_lists_students_through_the_api(stack):
    website, base = stack(API_URL="http://student-api:5000", USERNAME=USER, PASSWORD=PASSWORD)
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        assert "List Student" in response.read().decode()
    status, html = post_list(base)
    assert status == 200, html + website.logs().decode()
    parser = Rows()
    parser.feed(html)
    assert parser.rows == [("Ahmed", "20"), ("Amine", "20"), ("Hiba", "21"), ("Meryem", "23"), ("Omar", "20"), ("Sara", "23")]
    # runs as 10001, Apache is PID 1, the root fs is read-only, healthcheck passes
    assert website.exec_run(["id", "-u"]).output.decode().strip() == "10001"
    assert b"apache2" in website.exec_run(["cat", "/proc/1/cmdline"]).output
    assert website.exec_run(["touch", "/var/www/website/public/x"]).exit_code != 0
    health = website.attrs["Config"]["Healthcheck"]["Test"][1:]
    assert website.exec_run(health).exit_code == 0


def test_wrong_password_message_and_no_php_noise(stack):
    website, base = stack(API_URL="http://student-api:5000", USERNAME=USER, PASSWORD="wrong")
    status, html = post_list(base)
    assert status == 502
    parser = Rows()
    parser.feed(html)
    assert parser.rows == []
    assert "refused the website's credentials" in parser.error
    assert "Warning" not in html and "Notice" not in html
    time.sleep(0.5)
    assert b"(HTTP 401)" in website.logs(stdout=False, stderr=True)  # logged to stderr


def test_api_down_message(stack):
    website, base = stack(API_URL="http://no-such-api:5000", USERNAME=USER, PASSWORD=PASSWORD)
    status, html = post_list(base)
    assert status == 502
    parser = Rows()
    parser.feed(html)
    assert "cannot be reached" in parser.error
    assert "Warning" not in html and "getaddrinfo" not in html
