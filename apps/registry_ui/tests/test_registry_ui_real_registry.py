"""registry_ui against a real registry: Debian's docker-registry (distribution 2.8).

Skipped only when the docker-registry binary is absent
(``apt-get install docker-registry apache2-utils``).
"""

import gzip
import hashlib
import io
import json
import re
import shutil
import socket
import subprocess
import tarfile
import time

import pytest
import requests

REGISTRY_BIN = shutil.which("docker-registry")
HTPASSWD_BIN = shutil.which("htpasswd")
USER, PASSWORD = "ui-bot", "real-reg-pass"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def real_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    auth = ""
    if HTPASSWD_BIN:  # the registry only reads bcrypt htpasswd files
        line = subprocess.run([HTPASSWD_BIN, "-Bbn", USER, PASSWORD], check=True,
                              capture_output=True, text=True).stdout.strip()
        (root / "htpasswd").write_text(line + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {root / 'htpasswd'}\n"
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + auth)
    log = open(root / "registry.log", "wb")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(root / "config.yml")], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    if HTPASSWD_BIN:
        session.auth = (USER, PASSWORD)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if session.get(url + "/v2/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start: {(root / 'registry.log').read_text()}")
            time.sleep(0.1)
        yield {"url": url, "session": session,
               "auth": (USER, PASSWORD) if HTPASSWD_BIN else (None, None)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _upload(reg, name, data):
    digest = _digest(data)
    resp = reg["session"].post(f"{reg['url']}/v2/{name}/blobs/uploads/", timeout=10)
    assert resp.status_code == 202, resp.text
    location = resp.headers["Location"]
    if location.startswith("/"):
        location = reg["url"] + location
    sep = "&" if "?" in location else "?"
    resp = reg["session"].put(f"{location}{sep}digest={digest}", data=data, timeout=10,
                              headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 201, resp.text
    return digest


def _layer(text):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def push(reg, name, tags, text, created="2024-06-07T08:09:10.5Z"):
    """Push a one-layer image the way docker push does (blobs, then manifest)."""
    layer = _layer(text)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [_digest(gzip.decompress(layer))]},
        "history": [{"created": created, "created_by": f"/bin/sh -c #(nop) ADD {text} /"},
                    {"created": created, "created_by": '/bin/sh -c #(nop)  CMD ["/bin/sh"]',
                     "empty_layer": True}],
    }).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": _upload(reg, name, config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer), "digest": _upload(reg, name, layer)}],
    }
    body = json.dumps(manifest).encode()
    for tag in tags:
        resp = reg["session"].put(f"{reg['url']}/v2/{name}/manifests/{tag}", data=body, timeout=10,
                                  headers={"Content-Type": manifest["mediaType"]})
        assert resp.status_code == 201, resp.text
        assert resp.headers["Docker-Content-Digest"] == _digest(body)
    return {"digest": _digest(body), "size": len(config) + len(layer)}


@pytest.fixture(scope="module")
def pushed(real_registry):
    return {
        "alpha": push(real_registry, "labs/alpha", ["1.0", "latest"], "alpha"),
        "beta": push(real_registry, "labs/beta", ["2.0"], "beta"),
        "gamma": push(real_registry, "labs/gamma", ["0.1"], "gamma"),
    }


def test_browse_page_tag_details_and_delete_on_a_real_registry(real_registry, pushed, make_client, helpers):
    user, password = real_registry["auth"]
    extra = {"UI_PAGE_SIZE": "2"}
    if user:
        extra.update(REGISTRY_USERNAME=user, REGISTRY_PASSWORD=password)
    else:
        extra.update(REGISTRY_USERNAME="", REGISTRY_PASSWORD="")
    client = make_client(real_registry["url"], **extra)

    # catalog paging follows the real registry's Link header
    first = client.get("/").get_data(as_text=True)
    assert re.findall(r'<tr data-repository="([^"]+)"', first) == ["labs/alpha", "labs/beta"]
    next_href = re.search(r'id="next-page" href="([^"]+)"', first).group(1)
    second = client.get(next_href.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'<tr data-repository="([^"]+)"', second) == ["labs/gamma"]
    assert 'id="next-page"' not in second

    tags = client.get("/repo/labs/alpha").get_data(as_text=True)
    assert re.findall(r'<tr data-tag="([^"]+)"', tags) == ["1.0", "latest"]  # sorted by the UI
    details = client.get("/repo/labs/alpha/-/tag/1.0").get_data(as_text=True)
    assert f'<code id="digest">{pushed["alpha"]["digest"]}</code>' in details
    assert f'data-bytes="{pushed["alpha"]["size"]}"' in details
    assert '<dd id="created">2024-06-07 08:09:10 UTC</dd>' in details
    assert "ADD alpha /" in details

    # both tags share the manifest: the confirmation says so
    confirm = client.get("/repo/labs/alpha/-/tag/latest/delete").get_data(as_text=True)
    assert "<code>1.0</code>, <code>latest</code>" in confirm

    confirm = client.get("/repo/labs/beta/-/tag/2.0/delete").get_data(as_text=True)
    token = helpers.csrf_of(confirm)
    resp = client.post("/repo/labs/beta/-/tag/2.0/delete",
                       data={"csrf_token": token, "digest": pushed["beta"]["digest"]})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    gone = real_registry["session"].get(
        f"{real_registry['url']}/v2/labs/beta/manifests/{pushed['beta']['digest']}", timeout=10,
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert gone.status_code == 404
    after = client.get("/repo/labs/beta").get_data(as_text=True)
    assert 'id="no-tags"' in after and "Deleted labs/beta:2.0" in after
    # the other repositories are untouched
    assert client.get("/repo/labs/gamma/-/tag/0.1").status_code == 200


def test_real_registry_refuses_pages_over_1000(real_registry, pushed):
    """Why UI_PAGE_SIZE stops at 1000 (the fake registry copies this)."""
    url = f"{real_registry['url']}/v2/_catalog"
    resp = real_registry["session"].get(url, params={"n": 1001}, timeout=10)
    assert resp.status_code == 400 and "PAGINATION_NUMBER_INVALID" in resp.text
    assert real_registry["session"].get(url, params={"n": 1000}, timeout=10).status_code == 200


def test_real_registry_tag_list_is_paged_by_the_ui(real_registry, make_client):
    push(real_registry, "labs/paged", ["b", "latest", "a", "1.0", "c"], "paged")
    user, password = real_registry["auth"]
    client = make_client(real_registry["url"], UI_PAGE_SIZE="2", REGISTRY_USERNAME=user or "",
                         REGISTRY_PASSWORD=password or "")
    seen, path = [], "/repo/labs/paged"
    for _ in range(5):
        html = client.get(path).get_data(as_text=True)
        page = re.findall(r'<tr data-tag="([^"]+)"', html)
        assert 1 <= len(page) <= 2
        seen += page
        match = re.search(r'id="next-page" href="([^"]+)"', html)
        if not match:
            break
        path = match.group(1).replace("&amp;", "&")
    assert seen == ["1.0", "a", "b", "c", "latest"]
