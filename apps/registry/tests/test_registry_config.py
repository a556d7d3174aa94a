"""apps/registry/config.yml run by Debian's docker-registry (distribution 2.8.2), configured through the
same REGISTRY_* environment variables the registry role sets.

Skipped when the docker-registry binary is absent (``apt-get install docker-registry``).
"""

import base64
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

bcrypt = pytest.importorskip("bcrypt")

REGISTRY_BIN = shutil.which("docker-registry")
CONFIG = Path(__file__).resolve().parents[1] / "config.yml"
USER, PASSWORD = "labs", "Zq8wY3kV0pLr7TnB2xCe5MaH9sUd4GfJ"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _request(url, method="GET", data=None, auth=True, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if auth:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with NO_PROXY.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Registry:
    """docker-registry serve apps/registry/config.yml, storage and ports moved into a temp dir."""

    def __init__(self, root: Path, read_only=False):
        self.root = root
        self.port, self.debug_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.debug_url = f"http://127.0.0.1:{self.debug_port}"
        (root / "auth").mkdir(exist_ok=True)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        (root / "auth" / "htpasswd").write_text(f"{USER}:{hashed}\n")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(root / "data"),
            "REGISTRY_HTTP_ADDR": f"127.0.0.1:{self.port}",
            "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{self.debug_port}",
            "REGISTRY_HTTP_SECRET": "test-http-secret",
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": "test",
            "REGISTRY_AUTH_HTPASSWD_PATH": str(root / "auth" / "htpasswd"),
            "REGISTRY_LOG_LEVEL": "warn",
        }
        if read_only:
            self.env["REGISTRY_STORAGE_MAINTENANCE_READONLY"] = '{"enabled": true}'
        self.log = open(root / f"registry-{self.port}.log", "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(CONFIG)], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                if _request(self.url + "/v2/")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("docker-registry did not start: " + (root / f"registry-{self.port}.log").read_text())
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def upload(self, name, data):
        digest = _digest(data)
        status, headers, body = _request(f"{self.url}/v2/{name}/blobs/uploads/", "POST", b"")
        assert status == 202, body
        location = headers["Location"]
        location = self.url + location if location.startswith("/") else location
        sep = "&" if "?" in location else "?"
        status, _, body = _request(f"{location}{sep}digest={digest}", "PUT", data,
                                   headers={"Content-Type": "application/octet-stream"})
        assert status == 201, body
        return digest

    def push(self, name, tag, payload: bytes):
        layer = gzip.compress(payload, mtime=0)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [_digest(payload)]}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_V2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": self.upload(name, config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(layer), "digest": self.upload(name, layer)}],
        }).encode()
        status, headers, body = _request(f"{self.url}/v2/{name}/manifests/{tag}", "PUT", manifest,
                                         headers={"Content-Type": MANIFEST_V2})
        assert status == 201, body
        return headers["Docker-Content-Digest"]

    def blob_files(self):
        blobs = self.root / "data" / "docker" / "registry" / "v2" / "blobs"
        return sorted(p for p in blobs.rglob("data")) if blobs.exists() else []


@pytest.fixture()
def registry(tmp_path):
    reg = Registry(tmp_path)
    yield reg
    reg.stop()


def test_debug_server_answers_the_healthcheck(registry):
    status, _, body = _request(registry.debug_url + "/debug/health", auth=False)
    assert (status, json.loads(body)) == (200, {})


def test_anonymous_and_wrong_password_get_401(registry):
    assert _request(registry.url + "/v2/_catalog", auth=False)[0] == 401
    req = urllib.request.Request(registry.url + "/v2/_catalog")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as err:
        NO_PROXY.open(req, timeout=10)
    assert err.value.code == 401


def test_push_delete_then_garbage_collect_frees_the_blobs(registry):
    kept = registry.push("labs/kept", "1", os.urandom(200_000))
    doomed = registry.push("labs/doomed", "1", os.urandom(300_000))
    status, _, body = _request(registry.url + "/v2/_catalog")
    assert json.loads(body)["repositories"] == ["labs/doomed", "labs/kept"]
    before = registry.blob_files()
    assert len(before) == 6  # 2 x (config, layer, manifest)
    bytes_before = sum(p.stat().st_size for p in before)

    status, _, body = _request(f"{registry.url}/v2/labs/doomed/manifests/{doomed}", "DELETE")
    assert status == 202, body  # storage.delete.enabled
    assert registry.blob_files() == before  # a delete frees nothing by itself

    gc = subprocess.run([REGISTRY_BIN, "garbage-collect", "--delete-untagged", str(CONFIG)],
                        env=registry.env, capture_output=True, text=True, timeout=60)
    assert gc.returncode == 0, gc.stderr
    assert gc.stdout.count("blob eligible for deletion") == 3
    after = registry.blob_files()
    assert len(after) == 3
    freed = bytes_before - sum(p.stat().st_size for p in after)
    assert freed > 300_000
    status, _, _ = _request(f"{registry.url}/v2/labs/kept/manifests/{kept}", "HEAD",
                            headers={"Accept": MANIFEST_V2})
    assert status == 200


def test_read_only_mode_serves_pulls_and_refuses_pushes(tmp_path):
    writer = Registry(tmp_path)
    digest = writer.push("labs/app", "1", os.urandom(1000))
    writer.stop()
    reader = Registry(tmp_path, read_only=True)
    try:
        status, headers, _ = _request(f"{reader.url}/v2/labs/app/manifests/1", "HEAD", headers={"Accept": MANIFEST_V2})
        assert (status, headers["Docker-Content-Digest"]) == (200, digest)
        assert _request(f"{reader.url}/v2/labs/app/blobs/uploads/", "POST", b"")[0] == 405
        assert _request(f"{reader.url}/v2/labs/app/manifests/{digest}", "DELETE")[0] == 405
    finally:
        reader.stop()
