"""registry_ui against a fake Docker Registry v2 served over real HTTP."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

import registry_ui

APP_DIR = Path(registry_ui.__file__).resolve().parents[1]


def rows(html, table_id, attr):
    """Values of ``attr`` on the rows of the table with this id."""
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert match, f"no table#{table_id} in page"
    return re.findall(rf'<tr {attr}="([^"]*)"', match.group(1))


def deletes(fake):
    return [r for r in fake.requests if r[0] == "DELETE"]


# -- login, CSRF, headers ------------------------------------------------------

def test_healthz_needs_no_login_and_no_registry(make_client):
    client = make_client("http://127.0.0.1:9", logged_in=False)
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_pages_require_login(fake_registry, make_client, helpers):
    fake_registry.add_image("labs/app", "1.0")
    client = make_client(fake_registry.url, logged_in=False)
    for path in ("/", "/repo/labs/app", "/repo/labs/app/-/tag/1.0", "/repo/labs/app/-/tag/1.0/delete"):
        resp = client.get(path)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login?next=")
    resp = client.post("/repo/labs/app/-/tag/1.0/delete", data={"digest": "x", "csrf_token": "x"})
    assert resp.status_code == 401
    assert fake_registry.requests == []  # nothing reached the registry
    assert fake_registry.repos["labs/app"]["tags"] == {"1.0": fake_registry.repos["labs/app"]["tags"]["1.0"]}


def test_login_checks_password_and_redirects_to_next(fake_registry, make_client, helpers):
    client = make_client(fake_registry.url, logged_in=False)
    bad = helpers.log_in(client, password="wrong")
    assert bad.status_code == 401 and "Wrong user name or password" in bad.get_data(as_text=True)
    assert client.get("/").status_code == 302
    good = helpers.log_in(client, next_url="/repo/labs/x")
    assert good.status_code == 302 and good.headers["Location"] == "/repo/labs/x"
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(fake_registry, make_client, helpers, target):
    client = make_client(fake_registry.url, logged_in=False)
    resp = helpers.log_in(client, next_url=target)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_login_form_needs_csrf_token(fake_registry, make_client, helpers):
    client = make_client(fake_registry.url, logged_in=False)
    client.get("/login")
    resp = client.post("/login", data={"username": helpers.UI_USER, "password": helpers.UI_PASSWORD})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_logout_ends_the_session(fake_registry, make_client, helpers):
    client = make_client(fake_registry.url)
    token = helpers.csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_security_headers(fake_registry, make_client):
    resp = make_client(fake_registry.url).get("/")
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_and_samesite(fake_registry, make_client, helpers):
    client = make_client(fake_registry.url, logged_in=False)
    cookie = helpers.log_in(client).headers["Set-Cookie"]
    assert cookie.startswith("registry_ui_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# -- browsing --------------------------------------------------------------------

def test_catalog_beyond_1000_repositories_follows_link_header(fake_registry, make_client):
    names = [f"team{i % 7}/repo-{i:04d}" for i in range(2500)]
    for name in names:
        fake_registry.add_repo(name)
    client = make_client(fake_registry.url, UI_PAGE_SIZE="1000")
    seen, path, pages = [], "/", 0
    while path:
        html = client.get(path).get_data(as_text=True)
        page = rows(html, "repositories", "data-repository")
        assert len(page) <= 1000
        seen += page
        pages += 1
        match = re.search(r'<a id="next-page" href="([^"]+)"', html)
        path = match.group(1).replace("&amp;", "&") if match else None
        assert pages <= 5
    assert pages == 3
    assert seen == sorted(names)
    catalog_calls = [urllib.parse.parse_qs(q) for m, p, q, h in fake_registry.requests if p == "/v2/_catalog"]
    assert [c.get("last") for c in catalog_calls] == [None, [sorted(names)[999]], [sorted(names)[1999]]]
    assert all(c["n"] == ["1000"] for c in catalog_calls)


def test_tags_table_shows_digest_size_created_platform(fake_registry, make_client):
    one = fake_registry.add_image("labs/api", "1.0", layer_sizes=(5_000_000, 250_000))
    two = fake_registry.add_image("labs/api", "latest", layer_sizes=(7,), arch="arm64",
                                  created="2025-01-02T03:04:05Z")
    html = make_client(fake_registry.url).get("/repo/labs/api").get_data(as_text=True)
    assert rows(html, "tags", "data-tag") == ["1.0", "latest"]
    row = re.search(r'<tr data-tag="1.0">(.*?)</tr>', html, re.S).group(1)
    assert one["digest"] in row and one["digest"][:19] in row
    assert f'title="{one["size"]} bytes"' in row and "5.0 MiB" in row
    assert "2024-05-01 12:34:56 UTC" in row and "linux/amd64" in row
    row = re.search(r'<tr data-tag="latest">(.*?)</tr>', html, re.S).group(1)
    assert two["digest"] in row and "2025-01-02 03:04:05 UTC" in row and "linux/arm64" in row
    accepts = {h.get("Accept") for m, p, q, h in fake_registry.requests if "/manifests/" in p}
    for media_type in ("application/vnd.docker.distribution.manifest.v2+json",
                       "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.oci.image.index.v1+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json"):
        assert all(media_type in accept for accept in accepts)


def test_tags_beyond_one_page(fake_registry, make_client):
    for i in range(5):
        fake_registry.add_image("labs/many", f"v{i}")
    client = make_client(fake_registry.url, UI_PAGE_SIZE="2")
    html = client.get("/repo/labs/many").get_data(as_text=True)
    assert rows(html, "tags", "data-tag") == ["v0", "v1"]
    html = client.get("/repo/labs/many?last=v1").get_data(as_text=True)
    assert rows(html, "tags", "data-tag") == ["v2", "v3"]
    assert 'id="next-page" href="/repo/labs/many?last=v3"' in html


def test_tags_paged_by_the_ui_when_the_registry_ignores_n(make_client, helpers):
    fake = helpers.FakeRegistry(tags_paging=False)  # distribution 2.8 sends all tags, unsorted
    try:
        for i in (3, 0, 4, 1, 2):
            fake.add_image("labs/many", f"v{i}")
        client = make_client(fake.url, UI_PAGE_SIZE="2")
        html = client.get("/repo/labs/many").get_data(as_text=True)
        assert rows(html, "tags", "data-tag") == ["v0", "v1"]
        assert 'id="next-page" href="/repo/labs/many?last=v1"' in html
        html = client.get("/repo/labs/many?last=v3").get_data(as_text=True)
        assert rows(html, "tags", "data-tag") == ["v4"] and 'id="next-page"' not in html
        # details were fetched for the shown tags only
        fetched = {p.rsplit("/", 1)[1] for m, p, q, h in fake.requests if "/manifests/" in p}
        assert fetched == {"v0", "v1", "v4"}
    finally:
        fake.close()


def test_tag_details_size_created_layers_history(fake_registry, make_client):
    image = fake_registry.add_image("labs/web", "2.1", layer_sizes=(1000, 2000, 3000),
                                    media_type="application/vnd.oci.image.manifest.v1+json")
    html = make_client(fake_registry.url).get("/repo/labs/web/-/tag/2.1").get_data(as_text=True)
    assert f'<code id="digest">{image["digest"]}</code>' in html
    manifest = json.loads(fake_registry.repos["labs/web"]["manifests"][image["digest"]][1])
    assert f'data-bytes="{manifest["config"]["size"] + 1000 + 2000 + 3000}"' in html  # config + layers
    assert '<dd id="created">2024-05-01 12:34:56 UTC</dd>' in html
    assert "application/vnd.oci.image.manifest.v1+json" in html
    history = re.search(r'<table id="history">(.*?)</table>', html, re.S).group(1)
    commands = re.findall(r"<code>(.*?)</code>", history)
    assert commands == ["ADD file:abc in /", "/bin/sh -c echo layer1", "/bin/sh -c echo layer2",
                        "CMD [&#34;python3&#34;]"]
    assert rows(html, "layers", "data-digest") == [layer["digest"] for layer in manifest["layers"]]
    sizes = re.findall(r'<td class="size">(.*?)</td>', history)
    assert sizes == ["1000 B", "2.0 KiB", "2.9 KiB", ""]  # layer sizes paired with non-empty steps
    assert "docker pull 127.0.0.1:" in html and "/labs/web:2.1" in html


def test_multi_platform_index(fake_registry, make_client, helpers):
    amd = fake_registry.add_image("labs/multi", None, arch="amd64", layer_sizes=(10,))
    arm = fake_registry.add_image("labs/multi", None, arch="arm64", layer_sizes=(20,))
    digest = fake_registry.add_index("labs/multi", "latest", [
        (amd["digest"], {"os": "linux", "architecture": "amd64"}, None),
        (arm["digest"], {"os": "linux", "architecture": "arm64", "variant": "v8"}, None),
    ])
    client = make_client(fake_registry.url)
    html = client.get("/repo/labs/multi/-/tag/latest").get_data(as_text=True)
    assert f'<code id="digest">{digest}</code>' in html
    assert rows(html, "platforms", "data-digest") == [amd["digest"], arm["digest"]]
    assert "linux/arm64" in html and amd["digest"][:19] in html
    child = client.get(f"/repo/labs/multi/-/tag/{arm['digest']}")
    assert child.status_code == 200 and f'data-bytes="{arm["size"]}"' in child.get_data(as_text=True)
    tags_html = client.get("/repo/labs/multi").get_data(as_text=True)
    assert "linux/amd64, linux/arm64/v8" in tags_html


def test_unknown_tag_is_a_404_page(fake_registry, make_client):
    fake_registry.add_image("labs/app", "1.0")
    resp = make_client(fake_registry.url).get("/repo/labs/app/-/tag/nope")
    assert resp.status_code == 404 and "MANIFEST_UNKNOWN" in resp.get_data(as_text=True)


def test_registry_down_is_a_502_page_not_a_traceback(make_client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resp = make_client(f"http://127.0.0.1:{port}", REGISTRY_TIMEOUT="2").get("/")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 502 and "registry unreachable" in text and "Traceback" not in text


def test_wrong_registry_credentials_are_reported(fake_registry, make_client):
    resp = make_client(fake_registry.url, REGISTRY_PASSWORD="nope").get("/")
    assert resp.status_code == 502 and "HTTP 401" in resp.get_data(as_text=True)


def test_bearer_token_auth(make_client, helpers):
    fake = helpers.FakeRegistry(auth="bearer")
    try:
        fake.add_image("labs/tok", "1")
        client = make_client(fake.url)
        assert rows(client.get("/").get_data(as_text=True), "repositories", "data-repository") == ["labs/tok"]
        assert client.get("/repo/labs/tok").status_code == 200
        assert fake.tokens_issued >= 1
    finally:
        fake.close()


# -- delete ----------------------------------------------------------------------

def test_delete_needs_confirmation_then_deletes_by_digest(fake_registry, make_client):
    image = fake_registry.add_image("labs/app", "1.0")
    fake_registry.repos["labs/app"]["tags"]["stable"] = image["digest"]  # same manifest
    keep = fake_registry.add_image("labs/app", "2.0", layer_sizes=(1,))
    client = make_client(fake_registry.url)
    confirm = client.get("/repo/labs/app/-/tag/1.0/delete")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'id="delete-form"' in html
    assert f'<code id="delete-digest">{image["digest"]}</code>' in html
    assert "<code>1.0</code>, <code>stable</code>" in html  # the tags that go with it
    assert deletes(fake_registry) == []  # showing the confirmation deletes nothing
    token = re.search(r'id="delete-form".*?name="csrf_token" value="([^"]+)"', html, re.S).group(1)
    resp = client.post("/repo/labs/app/-/tag/1.0/delete", data={"csrf_token": token, "digest": image["digest"]})
    assert resp.status_code == 302 and resp.headers["Location"] == "/repo/labs/app"
    assert [(m, p) for m, p, q, h in deletes(fake_registry)] == [
        ("DELETE", f"/v2/labs/app/manifests/{image['digest']}")]
    assert fake_registry.repos["labs/app"]["tags"] == {"2.0": keep["digest"]}
    page = client.get("/repo/labs/app").get_data(as_text=True)
    assert "Deleted labs/app:1.0" in page and rows(page, "tags", "data-tag") == ["2.0"]


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_delete_without_valid_csrf_token_is_refused(fake_registry, make_client, token):
    image = fake_registry.add_image("labs/app", "1.0")
    client = make_client(fake_registry.url)
    data = {"digest": image["digest"]}
    if token is not None:
        data["csrf_token"] = token
    resp = client.post("/repo/labs/app/-/tag/1.0/delete", data=data)
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert deletes(fake_registry) == []
    assert "1.0" in fake_registry.repos["labs/app"]["tags"]


def test_delete_refused_when_tag_moved_since_confirmation(fake_registry, make_client, helpers):
    old = fake_registry.add_image("labs/app", "1.0")
    client = make_client(fake_registry.url)
    token = helpers.csrf_of(client.get("/repo/labs/app/-/tag/1.0/delete").get_data(as_text=True))
    new = fake_registry.add_image("labs/app", "1.0", layer_sizes=(42,))  # someone pushed meanwhile
    resp = client.post("/repo/labs/app/-/tag/1.0/delete", data={"csrf_token": token, "digest": old["digest"]},
                       follow_redirects=True)
    assert "changed since you confirmed" in resp.get_data(as_text=True)
    assert deletes(fake_registry) == []
    assert fake_registry.repos["labs/app"]["tags"]["1.0"] == new["digest"]


def test_delete_disabled_on_registry_is_explained(make_client, helpers):
    fake = helpers.FakeRegistry(delete_enabled=False)
    try:
        image = fake.add_image("labs/app", "1.0")
        client = make_client(fake.url)
        token = helpers.csrf_of(client.get("/repo/labs/app/-/tag/1.0/delete").get_data(as_text=True))
        resp = client.post("/repo/labs/app/-/tag/1.0/delete", data={"csrf_token": token, "digest": image["digest"]})
        assert resp.status_code == 409 and "storage.delete.enabled" in resp.get_data(as_text=True)
        assert "1.0" in fake.repos["labs/app"]["tags"]
    finally:
        fake.close()


# -- configuration -----------------------------------------------------------

def test_file_variants_win_over_plain_values(tmp_path, fake_registry, helpers):
    secret = tmp_path / "ui_password"
    secret.write_text("from-file\n")
    reg_secret = tmp_path / "reg_password"
    reg_secret.write_text(helpers.REG_PASSWORD + "\n")
    env = helpers.ui_env(fake_registry.url, UI_PASSWORD="from-env", UI_PASSWORD_FILE=str(secret),
                         REGISTRY_PASSWORD="wrong", REGISTRY_PASSWORD_FILE=str(reg_secret))
    app = registry_ui.create_app(env)
    assert app.config["UI_PASSWORD"] == "from-file"
    client = app.test_client()
    assert helpers.log_in(client, password="from-env").status_code == 401
    assert helpers.log_in(client, password="from-file").status_code == 302
    assert client.get("/").status_code == 200  # registry password came from the file


@pytest.mark.parametrize("change,needle", [
    ({"REGISTRY_URL": ""}, "REGISTRY_URL is required"),
    ({"REGISTRY_URL": "registry:5000"}, "http:// or https://"),
    ({"UI_PASSWORD": ""}, "UI_USERNAME and UI_PASSWORD"),
    ({"UI_USERNAME": ""}, "UI_USERNAME and UI_PASSWORD"),
    ({"UI_PASSWORD_FILE": "/nonexistent/pw"}, "UI_PASSWORD_FILE=/nonexistent/pw cannot be read"),
    ({"REGISTRY_CA_FILE": "/nonexistent/ca.pem"}, "REGISTRY_CA_FILE"),
    ({"UI_PAGE_SIZE": "5000"}, "UI_PAGE_SIZE"),
    ({"UI_COOKIE_SECURE": "maybe"}, "UI_COOKIE_SECURE"),
])
def test_bad_configuration_is_rejected(helpers, change, needle):
    with pytest.raises(registry_ui.ConfigError, match=needle):
        registry_ui.create_app(helpers.ui_env("http://registry:5000", **change))


def test_wsgi_entry_exits_with_one_line_on_bad_config():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(APP_DIR), str(APP_DIR.parent / "labs_common")])}
    proc = subprocess.run([sys.executable, "-c", "import registry_ui.wsgi"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "registry_ui: error: REGISTRY_URL is required (e.g. http://registry:5000)"]


@pytest.mark.parametrize("value,text", [(None, "—"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                        (5 * 1024 ** 3, "5.0 GiB")])
def test_human_size(value, text):
    assert registry_ui.human_size(value) == text


@pytest.mark.parametrize("value,text", [
    ("2024-05-01T12:34:56.123456789Z", "2024-05-01 12:34:56 UTC"),
    ("2024-05-01T12:34:56+02:00", "2024-05-01 12:34:56 +02:00"),
    ("yesterday", "yesterday"), (None, "—")])
def test_when(value, text):
    assert registry_ui.when(value) == text
