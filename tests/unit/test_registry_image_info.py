"""Unit tests of library/registry_image_info.py against a fake registry v2 server."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
from pathlib import Path

import pytest

import registry_image_info as rii

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from fakes import FakeServer, Reply, make_pki, run_module  # noqa: E402

USER, PASSWORD = "labs", "r3g-s3cret"


def image_manifest(media_type, config_size, layer_sizes, with_media_type=True):
    manifest = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": config_size, "digest": "sha256:" + "c" * 64},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": size, "digest": "sha256:%064d" % i}
                   for i, size in enumerate(layer_sizes)],
    }
    if with_media_type:
        manifest["mediaType"] = media_type
    return media_type, json.dumps(manifest, indent=3).encode()


INDEX = (rii.OCI_INDEX, json.dumps({
    "schemaVersion": 2, "mediaType": rii.OCI_INDEX,
    "manifests": [
        {"mediaType": rii.OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 500,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": rii.OCI_MANIFEST, "digest": "sha256:" + "b" * 64, "size": 500,
         "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
    ]}).encode())


class FakeRegistry:
    """Enough of the distribution v2 API: basic auth, n/last pagination, manifests."""

    def __init__(self, repositories, send_digest=True, challenge='Basic realm="Registry Realm"'):
        self.repositories = repositories  # {name: {tag: (media_type, body)}}
        self.send_digest = send_digest
        self.challenge = challenge

    def page(self, req, names, key, extra):
        n = int(req.query.get("n", ["1000"])[0])
        last = req.query.get("last", [""])[0]
        rest = [name for name in sorted(names) if name > last]
        headers = {}
        if len(rest) > n:
            headers["Link"] = '<%s?last=%s&n=%d>; rel="next"' % (req.path, rest[n - 1], n)
        return Reply(200, dict(extra, **{key: rest[:n]}), headers)

    def __call__(self, req):
        if req.auth != (USER, PASSWORD):
            return Reply(401, {"errors": [{"code": "UNAUTHORIZED"}]},
                         {"WWW-Authenticate": self.challenge})
        headers = {"Docker-Distribution-Api-Version": "registry/2.0"}
        if req.path == "/v2/":
            return Reply(200, {}, headers)
        if req.path == "/v2/_catalog":
            return self.page(req, self.repositories, "repositories", {})
        for name, tags in self.repositories.items():
            prefix = "/v2/%s/" % name
            if not req.path.startswith(prefix):
                continue
            rest = req.path[len(prefix):]
            if rest == "tags/list":
                return self.page(req, tags, "tags", {"name": name})
            if rest.startswith("manifests/"):
                reference = rest[len("manifests/"):]
                for media_type, body in tags.values():
                    digest = "sha256:" + hashlib.sha256(body).hexdigest()
                    if reference in tags and tags[reference][1] == body or reference == digest:
                        if self.send_digest:
                            headers["Docker-Content-Digest"] = digest
                        headers["Content-Type"] = media_type
                        return Reply(200, body, headers)
                return Reply(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        return Reply(404, {"errors": [{"code": "NAME_UNKNOWN"}]})


DOCKER_IMAGE = image_manifest(rii.DOCKER_MANIFEST, 1500, [1000, 20000, 300])
OCI_IMAGE = image_manifest(rii.OCI_MANIFEST, 700, [5000], with_media_type=False)
REPOSITORIES = {
    "labs/student-api": {"1.0": DOCKER_IMAGE, "latest": DOCKER_IMAGE, "oci": OCI_IMAGE,
                         "multi": INDEX, "0.9": DOCKER_IMAGE},
    "labs/website": {"latest": OCI_IMAGE},
    "alpha": {}, "beta": {"x": DOCKER_IMAGE}, "gamma": {"x": DOCKER_IMAGE},
}


def run(registry, args, check_mode=False, **server):
    with FakeServer(registry, **server) as srv:
        args = dict({"registry_url": srv.url + "/", "username": USER, "password": PASSWORD},
                    **args)
        return run_module(rii, args, check_mode=check_mode), srv.requests


def test_catalog_follows_every_page():
    result, requests = run(FakeRegistry(REPOSITORIES), {"page_size": 2})
    assert "failed" not in result, result.get("msg")
    assert result["repositories"] == sorted(REPOSITORIES)
    assert result["exists"] is True and result["changed"] is False
    assert "tags" not in result and "digest" not in result
    pages = [r for r in requests if r.path == "/v2/_catalog"]
    assert [(r.query["n"], r.query.get("last")) for r in pages] == [
        (["2"], None), (["2"], ["beta"]), (["2"], ["labs/student-api"])]
    assert requests[0].path == "/v2/"


def test_tags_of_a_repository_over_pages():
    result, requests = run(FakeRegistry(REPOSITORIES),
                           {"repository": "labs/student-api", "page_size": 3})
    assert result["exists"] is True
    assert result["tags"] == ["0.9", "1.0", "latest", "multi", "oci"]
    assert "repositories" not in result
    assert len([r for r in requests if r.path.endswith("/tags/list")]) == 2


def test_docker_manifest_digest_and_size():
    result, requests = run(FakeRegistry(REPOSITORIES),
                           {"repository": "labs/student-api", "tag": "1.0"})
    assert result["exists"] is True
    assert result["digest"] == "sha256:" + hashlib.sha256(DOCKER_IMAGE[1]).hexdigest()
    assert result["media_type"] == rii.DOCKER_MANIFEST
    assert result["size"] == 1500 + 1000 + 20000 + 300
    assert result["is_index"] is False and "manifests" not in result
    (manifest_request,) = [r for r in requests if "/manifests/" in r.path]
    accepted = [t.strip() for t in manifest_request.headers["accept"].split(",")]
    assert set(accepted) == {rii.DOCKER_MANIFEST, rii.OCI_MANIFEST, rii.DOCKER_LIST, rii.OCI_INDEX}


def test_oci_manifest_type_from_content_type_and_digest_without_header():
    result, _ = run(FakeRegistry(REPOSITORIES, send_digest=False),
                    {"repository": "labs/website", "tag": "latest"})
    assert result["media_type"] == rii.OCI_MANIFEST
    assert result["digest"] == "sha256:" + hashlib.sha256(OCI_IMAGE[1]).hexdigest()
    assert result["size"] == 5700


def test_manifest_by_digest():
    digest = "sha256:" + hashlib.sha256(OCI_IMAGE[1]).hexdigest()
    result, requests = run(FakeRegistry(REPOSITORIES), {"repository": "labs/website", "tag": digest})
    assert result["exists"] is True and result["digest"] == digest
    assert any(r.path == "/v2/labs/website/manifests/" + digest for r in requests)


def test_index_reports_index_digest_and_platforms():
    result, _ = run(FakeRegistry(REPOSITORIES), {"repository": "labs/student-api", "tag": "multi"})
    assert result["is_index"] is True
    assert result["digest"] == "sha256:" + hashlib.sha256(INDEX[1]).hexdigest()
    assert result["media_type"] == rii.OCI_INDEX
    assert result["size"] is None
    assert result["manifests"] == [
        {"digest": "sha256:" + "a" * 64, "media_type": rii.OCI_MANIFEST, "platform": "linux/amd64"},
        {"digest": "sha256:" + "b" * 64, "media_type": rii.OCI_MANIFEST,
         "platform": "linux/arm/v7"}]


def test_missing_repository_is_not_a_failure():
    result, requests = run(FakeRegistry(REPOSITORIES), {"repository": "labs/nope", "tag": "1.0"})
    assert "failed" not in result
    assert result["exists"] is False and result["tags"] == []
    assert "digest" not in result
    assert not any("/manifests/" in r.path for r in requests)


def test_missing_tag_is_not_a_failure():
    result, _ = run(FakeRegistry(REPOSITORIES), {"repository": "labs/website", "tag": "2.0"})
    assert "failed" not in result
    assert result["exists"] is False and result["tags"] == ["latest"]
    assert "digest" not in result


def test_repository_without_tags():
    result, _ = run(FakeRegistry(REPOSITORIES), {"repository": "alpha"})
    assert result["exists"] is True and result["tags"] == []


@pytest.mark.parametrize("args, needle", [
    ({"password": "wrong"}, "registry refused access (HTTP 401)"),
    ({"password": "wrong"}, "check username and password"),
    ({"username": None, "password": None}, "requires credentials"),
])
def test_401_fails_clearly_without_leaking_password(args, needle):
    result, _ = run(FakeRegistry(REPOSITORIES), dict({"repository": "labs/website"}, **args))
    assert result["failed"] is True and result["status"] == 401
    assert needle in result["msg"]
    assert PASSWORD not in json.dumps(result)


def test_bearer_challenge_is_explained():
    registry = FakeRegistry(REPOSITORIES, challenge='Bearer realm="https://auth/token"')
    result, _ = run(registry, {"password": "wrong"})
    assert result["failed"] and "token (Bearer) authentication" in result["msg"]


def test_not_a_registry():
    result, _ = run(lambda req: Reply(404, "nginx"), {})
    assert result["failed"] and "does not serve the registry v2 API" in result["msg"]


def test_unexpected_status_fails_with_body():
    def handler(req):
        return Reply(200, {}) if req.path == "/v2/" else Reply(500, "disk full")
    result, _ = run(handler, {"repository": "x"})
    assert result["failed"] and result["status"] == 500
    assert "disk full" in result["msg"]


def test_pagination_loop_is_refused():
    def handler(req):
        if req.path == "/v2/":
            return Reply(200, {})
        return Reply(200, {"repositories": ["a"]}, {"Link": '</v2/_catalog?n=1>; rel="next"'})
    result, requests = run(handler, {"page_size": 1})
    assert result["failed"] and "refusing to follow pagination link" in result["msg"]
    assert len(requests) == 2


def test_pagination_to_another_host_is_refused():
    def handler(req):
        if req.path == "/v2/":
            return Reply(200, {})
        return Reply(200, {"repositories": ["a"]},
                     {"Link": '<http://evil.example/v2/_catalog?n=1&last=a>; rel="next"'})
    result, _ = run(handler, {})
    assert result["failed"] and "evil.example" in result["msg"]


def test_unreachable_registry():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_module(rii, {"registry_url": "http://127.0.0.1:%d" % port, "timeout": 2})
    assert result["failed"] and "registry not reachable" in result["msg"]


def test_tls_with_ca_path(tmp_path):
    pki = make_pki(tmp_path)
    tls = (pki["cert"], pki["key"])
    good, _ = run(FakeRegistry(REPOSITORIES), {"ca_path": pki["ca"], "repository": "beta"}, tls=tls)
    bad, _ = run(FakeRegistry(REPOSITORIES), {"repository": "beta"}, tls=tls)
    assert "failed" not in good and good["tags"] == ["x"]
    assert bad["failed"] and "certificate verify failed" in bad["msg"]


def test_tag_requires_repository():
    result, requests = run(FakeRegistry(REPOSITORIES), {"tag": "latest"})
    assert result["failed"] and "tag" in result["msg"] and "repository" in result["msg"]
    assert requests == []


def test_check_mode_reads_anyway():
    result, _ = run(FakeRegistry(REPOSITORIES), {"repository": "gamma", "tag": "x"},
                    check_mode=True)
    assert "skipped" not in result
    assert result["exists"] is True and result["size"] == 22800


def test_several_images_in_one_call_in_order_with_the_missing_ones():
    result, requests = run(FakeRegistry(REPOSITORIES),
                           {"images": ["labs/student-api:1.0", "labs/website:2.0", "labs/nope:latest"]})
    assert [i["reference"] for i in result["images"]] == ["labs/student-api:1.0", "labs/website:2.0", "labs/nope:latest"]
    assert result["images"][0]["exists"] is True
    assert result["images"][0]["digest"] == "sha256:" + hashlib.sha256(DOCKER_IMAGE[1]).hexdigest()
    assert [i["exists"] for i in result["images"][1:]] == [False, False]
    assert [i["digest"] for i in result["images"][1:]] == ["", ""]
    assert result["exists"] is False
    assert len([r for r in requests if "/manifests/" in r.path]) == 3


def test_images_must_be_repository_tag_references():
    result, _ = run(FakeRegistry(REPOSITORIES), {"images": ["127.0.0.1:5001/labs/x"]})
    assert result["failed"] and "not a repository:tag reference" in result["msg"]
