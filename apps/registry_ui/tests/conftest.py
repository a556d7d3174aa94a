"""Test fixtures for registry_ui: a fake Docker Registry v2 over real HTTP.

pytest runs with --import-mode=importlib: put apps/registry_ui on sys.path so
that ``import registry_ui`` works.
"""

import base64
import hashlib
import json
import re
import sys
import tempfile
import threading
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
# (apps/conftest.py puts the shared code, apps/labs_common, on the path.)
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from flask import Flask, Response, request  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
REG_USER, REG_PASSWORD = "reg-bot", "reg-s3cret"
UI_USER, UI_PASSWORD = "alice", "wonderland-pass"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Enough of the distribution 2.x API: catalog/tags paging capped at 1000
    like the real one, manifests with Accept negotiation and
    Docker-Content-Digest, blobs, DELETE (optionally disabled), basic or
    bearer auth."""

    MAX_N = 1000

    def __init__(self, auth="basic", delete_enabled=True, tags_paging=True):
        self.auth_mode = auth
        self.tags_paging = tags_paging  # False: like distribution 2.8, ignore n/last on tags/list
        self.delete_enabled = delete_enabled
        self.repos = {}  # name -> {"tags": {tag: digest}, "manifests": {digest: (type, bytes)}}
        self.blobs = {}
        self.requests = []  # (method, path, query string, headers)
        self.tokens_issued = 0
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -- content -------------------------------------------------------------

    def add_repo(self, name):
        return self.repos.setdefault(name, {"tags": {}, "manifests": {}})

    def add_blob(self, data):
        digest = sha(data)
        self.blobs[digest] = data
        return digest

    def add_image(self, name, tag, layer_sizes=(1000, 2000), created="2024-05-01T12:34:56.123456789Z",
                  media_type=DOCKER_MANIFEST, arch="amd64", history=None):
        config = {
            "architecture": arch, "os": "linux", "created": created,
            "config": {"Cmd": ["python3"]},
            "history": history if history is not None else (
                [{"created": "2024-04-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "}]
                + [{"created": created, "created_by": f"/bin/sh -c echo layer{i}"} for i in range(1, len(layer_sizes))]
                + [{"created": created, "created_by": '/bin/sh -c #(nop)  CMD ["python3"]', "empty_layer": True}]),
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        config_bytes = json.dumps(config).encode()
        config_digest = self.add_blob(config_bytes)
        layers = [{"mediaType": LAYER_TYPE, "size": size, "digest": sha(f"{name}{tag}{i}".encode())}
                  for i, size in enumerate(layer_sizes)]
        manifest = {"schemaVersion": 2, "mediaType": media_type,
                    "config": {"mediaType": CONFIG_TYPE, "size": len(config_bytes), "digest": config_digest},
                    "layers": layers}
        digest = self.put_manifest(name, tag, media_type, manifest)
        return {"digest": digest, "size": len(config_bytes) + sum(layer_sizes), "config": config}

    def put_manifest(self, name, tag, media_type, manifest):
        body = json.dumps(manifest, indent=3).encode()
        digest = sha(body)
        repo = self.add_repo(name)
        repo["manifests"][digest] = (media_type, body)
        if tag:
            repo["tags"][tag] = digest
        return digest

    def add_index(self, name, tag, children):
        """children: list of (digest, platform dict, annotations)."""
        manifests = []
        for digest, platform, annotations in children:
            media_type, body = self.repos[name]["manifests"][digest]
            entry = {"mediaType": media_type, "digest": digest, "size": len(body), "platform": platform}
            if annotations:
                entry["annotations"] = annotations
            manifests.append(entry)
        return self.put_manifest(name, tag, OCI_INDEX,
                                 {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})

    # -- HTTP ----------------------------------------------------------------

    def _authorized(self):
        header = request.headers.get("Authorization", "")
        if self.auth_mode == "none":
            return True
        if self.auth_mode == "basic":
            expected = "Basic " + base64.b64encode(f"{REG_USER}:{REG_PASSWORD}".encode()).decode()
            return header == expected
        return header == "Bearer fake-token-1"

    def _challenge(self):
        if self.auth_mode == "basic":
            header = 'Basic realm="fake"'
        else:
            header = f'Bearer realm="{self.url}/token",service="fake-registry"'
        return _error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": header})

    def _page(self, items, key, extra, path):
        n = int(request.args.get("n", 100))
        if n > self.MAX_N:
            return _error(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
        last = request.args.get("last")
        items = sorted(items)
        if last:
            items = [item for item in items if item > last]
        page, more = items[:n], len(items) > n
        resp = Response(json.dumps({**extra, key: page}), mimetype="application/json")
        if more:
            resp.headers["Link"] = f'<{path}?last={page[-1]}&n={n}>; rel="next"'
        return resp

    def _build(self):
        app = Flask("fake_registry")
        fake = self

        @app.before_request
        def record_and_auth():
            fake.requests.append((request.method, request.path, request.query_string.decode(),
                                  dict(request.headers)))
            if request.path == "/token":
                return None
            if not fake._authorized():
                return fake._challenge()
            return None

        @app.get("/token")
        def token():
            expected = "Basic " + base64.b64encode(f"{REG_USER}:{REG_PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return _error(401, "UNAUTHORIZED", "bad credentials")
            fake.tokens_issued += 1
            return {"token": "fake-token-1", "expires_in": 300}

        @app.get("/v2/")
        def base():
            return {}

        @app.get("/v2/_catalog")
        def catalog():
            return fake._page(fake.repos, "repositories", {}, "/v2/_catalog")

        @app.route("/v2/<path:rest>", methods=["GET", "HEAD", "DELETE"])
        def dispatch(rest):
            match = re.match(r"^(?P<name>.+)/(?P<kind>tags/list|manifests|blobs)(?:/(?P<ref>[^/]+))?$", rest)
            if not match or match["name"] not in fake.repos:
                return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
            repo = fake.repos[match["name"]]
            if match["kind"] == "tags/list" and not fake.tags_paging:
                return {"name": match["name"], "tags": sorted(repo["tags"], reverse=True)}
            if match["kind"] == "tags/list":
                return fake._page(repo["tags"], "tags", {"name": match["name"]},
                                  f"/v2/{match['name']}/tags/list")
            ref = match["ref"]
            if match["kind"] == "blobs":
                if ref not in fake.blobs:
                    return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                return Response(fake.blobs[ref], mimetype="application/octet-stream")
            digest = repo["tags"].get(ref, ref)
            if digest not in repo["manifests"]:
                return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            if request.method == "DELETE":
                if not fake.delete_enabled:
                    return _error(405, "UNSUPPORTED", "The operation is unsupported.")
                if not ref.startswith("sha256:"):
                    return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
                del repo["manifests"][digest]
                repo["tags"] = {t: d for t, d in repo["tags"].items() if d != digest}
                return Response(status=202)
            media_type, body = repo["manifests"][digest]
            if media_type not in request.headers.get("Accept", ""):
                return _error(404, "MANIFEST_UNKNOWN", f"{media_type} not accepted")
            headers = {"Docker-Content-Digest": digest, "Content-Length": str(len(body))}
            return Response(b"" if request.method == "HEAD" else body, content_type=media_type,
                            headers=headers)

        return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def _error(status, code, message, headers=None):
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]})
    return Response(body, status=status, mimetype="application/json", headers=headers or {})


@pytest.fixture()
def fake_registry():
    fake = FakeRegistry()
    yield fake
    fake.close()


# Server-side sessions of the apps under test (random ids: tests never share one); removed at exit.
_SESSION_DIR = tempfile.TemporaryDirectory(prefix="registry_ui_sessions_")


def ui_env(registry_url, **extra):
    env = {"REGISTRY_URL": registry_url, "REGISTRY_USERNAME": REG_USER, "REGISTRY_PASSWORD": REG_PASSWORD,
           "UI_USERNAME": UI_USER, "UI_PASSWORD": UI_PASSWORD, "UI_SECRET_KEY": "test-secret-key-0123456789",
           "UI_SESSION_DIR": _SESSION_DIR.name}
    env.update(extra)
    return env


def csrf_of(html):
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def log_in(client, user=UI_USER, password=UI_PASSWORD, next_url="/"):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf_of(page), "username": user,
                                       "password": password, "next": next_url})


@pytest.fixture()
def make_client():
    """make_client(registry_url, logged_in=True, **env) -> Flask test client."""
    import registry_ui

    def factory(registry_url, logged_in=True, **extra):
        app = registry_ui.create_app(ui_env(registry_url, **extra))
        app.config["TESTING"] = True
        client = app.test_client()
        if logged_in:
            resp = log_in(client)
            assert resp.status_code == 302, resp.get_data(as_text=True)
        return client

    return factory


@pytest.fixture()
def helpers():
    """Helpers and constants for the test modules (conftest can't be imported by name)."""
    import types

    return types.SimpleNamespace(
        FakeRegistry=FakeRegistry, ui_env=ui_env, csrf_of=csrf_of, log_in=log_in, sha=sha,
        REG_USER=REG_USER, REG_PASSWORD=REG_PASSWORD, UI_USER=UI_USER, UI_PASSWORD=UI_PASSWORD,
        DOCKER_MANIFEST=DOCKER_MANIFEST, OCI_MANIFEST=OCI_MANIFEST, OCI_INDEX=OCI_INDEX)
