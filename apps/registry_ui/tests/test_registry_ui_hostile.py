"""Hostile input on the registry UI (issue #16), as hypothesis properties:
no 5xx from any form or path, login redirects that stay on the site, sessions
that end at logout for every copy of the cookie, throttled failed logins."""

import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import registry_ui
from labs_common.throttle import FailureThrottle

BOUNDED = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                     HealthCheck.too_slow])
SITE = "http://ui.example"


def browser_resolve(location, base=SITE + "/login"):
    """Where a browser goes for a Location header (WHATWG URL parsing, as far as
    it differs from RFC 3986: tabs/newlines dropped, backslash read as slash,
    leading C0 controls and spaces stripped)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).lstrip("".join(map(chr, range(0x21))))
    cleaned = cleaned.replace("\\", "/")
    if cleaned.startswith("//"):  # any number of slashes before a host ("///evil" is //evil)
        cleaned = "//" + cleaned.lstrip("/")
    return urllib.parse.urljoin(base, cleaned)


@pytest.fixture()
def app(fake_registry, helpers):
    fake_registry.add_image("labs/app", "1.0")
    app = registry_ui.create_app(helpers.ui_env(fake_registry.url, UI_LOGIN_FAILURE_LIMIT="0"))
    app.config["TESTING"] = True
    return app


def fresh_login_form(client):
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


# -- open redirect and control characters ----------------------------------------
off_site = st.sampled_from([
    "//evil.example", "///evil.example", "/\\evil.example", "\\/evil.example", "/\t/evil.example",
    "/\n/evil.example", "https:evil.example", "https://evil.example", "http:/\\evil.example",
    " //evil.example", "\x00//evil.example", "/%09/evil.example", "javascript:alert(1)",
    "/\r\nSet-Cookie: x=1", "\u3002evil.example", "/\uff0f/evil.example",
])
targets = off_site | st.text(max_size=40) | st.text(max_size=20).map(lambda t: "/" + t) | st.builds(
    lambda a, b: a + b, st.sampled_from(["/", "//", "/\\", "\\", "http://", "/\t"]), st.text(max_size=20))


@settings(max_examples=400, **BOUNDED)
@given(target=targets)
@example(target="/repo/labs/app?x=1")
def test_login_redirect_stays_on_the_site(app, helpers, target):
    client = app.test_client()
    token = fresh_login_form(client)
    response = client.post("/login", data={"csrf_token": token, "username": helpers.UI_USER,
                                           "password": helpers.UI_PASSWORD, "next": target})
    assert response.status_code == 302, (target, response.status_code)
    location = response.headers["Location"]
    landed = urllib.parse.urlsplit(browser_resolve(location))
    assert (landed.scheme, landed.netloc) == ("http", "ui.example"), (target, location)
    # a same-site target is kept (werkzeug percent-encodes what a URI cannot hold,
    # and an empty fragment dropped)
    def same(url):
        return urllib.parse.urldefrag(urllib.parse.unquote(url)).url
    assert location == "/" or same(location) == same(target)


@pytest.mark.parametrize("target", ["/repo/labs/app", "/repo/labs/app/-/tag/1.0?x=1", "/?last=a%2Fb"])
def test_same_site_targets_are_kept(app, helpers, target):
    client = app.test_client()
    response = helpers.log_in(client, next_url=target)
    assert response.headers["Location"] == target


# -- no 5xx from any form or path --------------------------------------------------
texts = st.text(max_size=60)
form_values = st.dictionaries(st.sampled_from(["username", "password", "next", "csrf_token", "digest", "x"]),
                              texts, max_size=5)


@settings(max_examples=300, **BOUNDED)
@given(logged_in=st.booleans(), with_token=st.booleans(), form=form_values,
       path=st.sampled_from(["/login", "/logout", "/repo/labs/app/-/tag/1.0/delete", "/repo/{}/-/tag/{}/delete",
                             "/", "/repo/{}", "/repo/{}/-/tag/{}"]),
       name=texts, tag=texts, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       query=st.dictionaries(st.sampled_from(["next", "last", "n"]), texts, max_size=2))
def test_forms_and_paths_never_answer_5xx(app, helpers, logged_in, with_token, form, path, name, tag, method, query):
    client = app.test_client()
    if logged_in:
        helpers.log_in(client)
    if with_token:
        form = dict(form, csrf_token=fresh_login_form(client) if not logged_in else helpers.csrf_of(
            client.get("/login").get_data(as_text=True)))
    url = path.format(urllib.parse.quote(name, safe="/"), urllib.parse.quote(tag, safe=""))
    response = client.open(url, method=method, data=form, query_string=query)
    assert response.status_code < 500, (method, url, form, response.status_code)


# -- logout ends the session for every copy of the cookie -----------------------
@settings(max_examples=20, **BOUNDED)
@given(pages=st.lists(st.sampled_from(["/", "/repo/labs/app", "/repo/labs/app/-/tag/1.0"]), min_size=1,
                      max_size=3))
def test_a_cookie_copied_before_logout_is_dead_after_it(app, helpers, pages):
    client = app.test_client()
    helpers.log_in(client)
    cookie = client.get_cookie("registry_ui_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("registry_ui_session", cookie.value)
    for page in pages:
        assert thief.get(page).status_code == 200  # the copy works while the session lives
    token = helpers.csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    for page in pages:
        response = thief.get(page)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), page


def test_login_gives_a_new_session_id(app, helpers):
    client = app.test_client()
    client.get("/login")
    before = client.get_cookie("registry_ui_session").value
    helpers.log_in(client)
    assert client.get_cookie("registry_ui_session").value != before


# -- failed-login throttle ---------------------------------------------------------
def test_failed_logins_are_throttled_with_retry_after(fake_registry, helpers):
    app = registry_ui.create_app(helpers.ui_env(fake_registry.url, UI_LOGIN_FAILURE_LIMIT="3",
                                                UI_LOGIN_FAILURE_WINDOW="60"))
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(3):
        assert helpers.log_in(attacker, password="wrong").status_code == 401
    blocked = helpers.log_in(attacker, password="wrong")
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60
    # no oracle while blocked: the right password gets the same answer
    assert helpers.log_in(attacker).status_code == 429
    assert attacker.get("/").status_code == 302
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert helpers.log_in(other).status_code == 302


def test_the_right_password_works_once_the_window_passed(fake_registry, helpers):
    now = [100.0]
    app = registry_ui.create_app(helpers.ui_env(fake_registry.url, UI_LOGIN_FAILURE_LIMIT="2",
                                                UI_LOGIN_FAILURE_WINDOW="10"))
    app.login_throttle = FailureThrottle(2, 10, clock=lambda: now[0])
    client = app.test_client()
    for _ in range(2):
        assert helpers.log_in(client, password="wrong").status_code == 401
    assert helpers.log_in(client).status_code == 429
    now[0] += 10.5
    assert helpers.log_in(client).status_code == 302
    assert client.get("/").status_code == 200
