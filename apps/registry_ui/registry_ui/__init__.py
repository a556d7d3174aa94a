"""Registry UI: a server-rendered web UI for a Docker Registry v2.

The browser only ever talks to this app; the app talks to the registry with
its own credentials, so there is no CORS to configure on the registry.
"""

import hmac
import logging
import os
import re
import secrets
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from cachelib import FileSystemCache
from flask import (Flask, abort, flash, jsonify, redirect, render_template, request,
                   session, url_for)
from flask_session import Session

from labs_common.secret_files import read_secret
from labs_common.throttle import FailureThrottle

from .registry import Registry, RegistryError

__all__ = ["ConfigError", "create_app", "Registry", "RegistryError"]

log = logging.getLogger("registry_ui")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
PUBLIC_ENDPOINTS = {"login", "healthz", "static"}


class ConfigError(ValueError):
    pass


def env_value(environ, name, default=None):
    """X, or the content of the file named by X_FILE (the file wins); default when neither gives a value."""
    value = read_secret(environ, name, ConfigError)
    return default if value is None else value


def _int(environ, name, default, low, high):
    raw = environ.get(name, "") or str(default)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {raw!r}")
    return int(raw)


def _bool(environ, name, default):
    raw = (environ.get(name) or str(default)).strip().lower()
    if raw not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in ("1", "true", "yes", "on")


def load_config(environ):
    url = env_value(environ, "REGISTRY_URL")
    if not url:
        raise ConfigError("REGISTRY_URL is required (e.g. http://registry:5000)")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"REGISTRY_URL must be an http:// or https:// URL, got {url!r}")
    ca_file = env_value(environ, "REGISTRY_CA_FILE")
    if ca_file and not os.path.isfile(ca_file):
        raise ConfigError(f"REGISTRY_CA_FILE: no such file {ca_file}")
    try:
        timeout = float(environ.get("REGISTRY_TIMEOUT") or 10)
    except ValueError:
        timeout = -1
    if not 0 < timeout <= 300:
        raise ConfigError("REGISTRY_TIMEOUT must be a number of seconds in (0, 300]")
    ui_user = env_value(environ, "UI_USERNAME")
    ui_password = env_value(environ, "UI_PASSWORD")
    if not ui_user or not ui_password:
        raise ConfigError("UI_USERNAME and UI_PASSWORD (or UI_PASSWORD_FILE) are required: "
                          "the people who use this UI log in with them")
    secret = env_value(environ, "UI_SECRET_KEY")
    if not secret:
        log.warning("UI_SECRET_KEY is not set: using a random key, sessions end when the server restarts")
        secret = secrets.token_hex(32)
    return {
        "REGISTRY_URL": url.rstrip("/"),
        "REGISTRY_USERNAME": env_value(environ, "REGISTRY_USERNAME"),
        "REGISTRY_PASSWORD": env_value(environ, "REGISTRY_PASSWORD"),
        "REGISTRY_CA_FILE": ca_file,
        "REGISTRY_TIMEOUT": timeout,
        "REGISTRY_PULL_HOST": env_value(environ, "REGISTRY_PULL_HOST", parts.netloc),
        "UI_USERNAME": ui_user,
        "UI_PASSWORD": ui_password,
        "UI_TITLE": env_value(environ, "UI_TITLE", "Docker registry"),
        "UI_PAGE_SIZE": _int(environ, "UI_PAGE_SIZE", 100, 1, 1000),
        "UI_DETAIL_WORKERS": _int(environ, "UI_DETAIL_WORKERS", 8, 1, 64),
        "SECRET_KEY": secret,
        "SESSION_COOKIE_NAME": "registry_ui_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(environ, "UI_COOKIE_SECURE", False),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int(environ, "UI_SESSION_HOURS", 8, 1, 720)),
        # Server-side sessions (Flask-Session): the cookie holds only a random
        # id, so logging out deletes the session for every copy of the cookie.
        # A directory, not memory: gunicorn's workers must share it.
        "SESSION_TYPE": "cachelib",
        "SESSION_PERMANENT": True,
        "UI_SESSION_DIR": env_value(environ, "UI_SESSION_DIR", "/tmp/registry_ui_sessions"),
        "UI_LOGIN_FAILURE_LIMIT": _int(environ, "UI_LOGIN_FAILURE_LIMIT", 5, 0, 1000000),
        "UI_LOGIN_FAILURE_WINDOW": _int(environ, "UI_LOGIN_FAILURE_WINDOW", 60, 1, 86400),
    }


def create_app(environ=None, registry=None):
    """Build the app from environment variables (``os.environ`` by default)."""
    config = load_config(os.environ if environ is None else environ)
    app = Flask(__name__)
    app.config.update(config)
    lifetime = int(config["PERMANENT_SESSION_LIFETIME"].total_seconds())
    app.config["SESSION_CACHELIB"] = FileSystemCache(config["UI_SESSION_DIR"], threshold=10000,
                                                     default_timeout=lifetime, mode=0o600)
    Session(app)
    app.login_throttle = FailureThrottle(config["UI_LOGIN_FAILURE_LIMIT"],
                                         config["UI_LOGIN_FAILURE_WINDOW"])
    app.registry = registry or Registry(config["REGISTRY_URL"], config["REGISTRY_USERNAME"],
                                        config["REGISTRY_PASSWORD"], config["REGISTRY_CA_FILE"],
                                        config["REGISTRY_TIMEOUT"])
    app.jinja_env.filters.update(human_size=human_size, when=when, short_digest=short_digest)
    app.jinja_env.globals.update(csrf_token=csrf_token)
    _register(app)
    return app


# -- helpers used by templates ----------------------------------------------

def csrf_token():
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def human_size(value):
    if value is None:
        return "\u2014"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def when(value):
    """'2024-05-01T12:34:56.123Z' -> '2024-05-01 12:34:56 UTC' (as given otherwise)."""
    if not value:
        return "\u2014"
    match = re.match(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$", value)
    if not match:
        return value
    zone = match.group(3)
    return f"{match.group(1)} {match.group(2)} {'UTC' if zone in (None, 'Z', '+00:00') else zone}"


def short_digest(value):
    if not value:
        return "\u2014"
    algo, _, hexpart = value.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else value


# -- routes ------------------------------------------------------------------

def _register(app):
    registry = app.registry

    @app.before_request
    def guard():
        if request.endpoint not in PUBLIC_ENDPOINTS and not session.get("user"):
            if request.method != "GET":
                abort(401)
            return redirect(url_for("login", next=request.full_path.rstrip("?")))
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            expected = session.get("csrf", "")
            if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
                abort(400, description="CSRF token missing or invalid: reload the page and try again.")
        return None

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'none'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.errorhandler(RegistryError)
    def registry_error(exc):
        log.warning("registry error on %s: %s", request.path, exc)
        status = 404 if exc.status == 404 else 502
        return render_template("error.html", status=status, message=str(exc)), status

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    @app.errorhandler(414)
    @app.errorhandler(431)
    def http_error(exc):
        return render_template("error.html", status=exc.code, message=exc.description), exc.code

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.route("/login", methods=["GET", "POST"])
    def login():
        target = _safe_next(request.values.get("next"))
        if request.method == "POST":
            client = request.remote_addr or ""
            wait = app.login_throttle.retry_after(client)
            if wait is not None:  # blocked: the password is not even looked at
                flash(f"Too many failed logins: try again in {wait} s.", "error")
                page = render_template("login.html", next=target)
                return page, 429, {"Retry-After": str(wait)}
            user = request.form.get("username", "")
            password = request.form.get("password", "")
            ok_user = hmac.compare_digest(user.encode(), app.config["UI_USERNAME"].encode())
            ok_password = hmac.compare_digest(password.encode(), app.config["UI_PASSWORD"].encode())
            if ok_user and ok_password:
                app.login_throttle.succeeded(client)
                app.session_interface.regenerate(session)  # a new id: no session fixation
                session.clear()
                session.permanent = True
                session["user"] = user
                session["csrf"] = secrets.token_urlsafe(32)
                return redirect(target)
            app.login_throttle.failed(client)
            log.warning("failed login for %r from %s", user, client)
            flash("Wrong user name or password.", "error")
            return render_template("login.html", next=target), 401
        return render_template("login.html", next=target)

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("login"))

    @app.get("/")
    def repositories():
        last = request.args.get("last") or None
        repos, next_last = registry.catalog_page(app.config["UI_PAGE_SIZE"], last)
        return render_template("repositories.html", repos=repos, last=last, next_last=next_last)

    @app.get("/repo/<path:name>")
    def tags(name):
        last = request.args.get("last") or None
        names, next_last = registry.tags_page(name, app.config["UI_PAGE_SIZE"], last)
        details = _summaries(app, name, names)
        return render_template("tags.html", name=name, tags=details, last=last, next_last=next_last)

    @app.get("/repo/<path:name>/-/tag/<tag>")
    def tag(name, tag):
        _check_reference(tag)
        info = registry.image_summary(name, tag)
        children = []
        if info["kind"] == "index":
            wanted = [c for c in info["children"][:64] if c["digest"]]
            children = _summaries(app, name, [c["digest"] for c in wanted])
            for child, summary in zip(wanted, children):
                summary["attestation"] = child["attestation"]
                summary["platform"] = summary["platform"] or child["platform"]
        return render_template("tag.html", name=name, tag=tag, info=info, children=children,
                               pull_host=app.config["REGISTRY_PULL_HOST"])

    @app.route("/repo/<path:name>/-/tag/<tag>/delete", methods=["GET", "POST"])
    def delete_tag(name, tag):
        _check_reference(tag)
        digest = registry.digest(name, tag)
        if request.method == "POST":
            confirmed = request.form.get("digest", "")
            if confirmed != digest:
                flash(f"{name}:{tag} changed since you confirmed (now {digest}): nothing was deleted.",
                      "error")
                return redirect(url_for("delete_tag", name=name, tag=tag))
            try:
                registry.delete_manifest(name, digest)
            except RegistryError as exc:
                if exc.status in (405, 403, 401) or exc.code == "UNSUPPORTED":
                    message = (f"The registry refused to delete {name}@{digest} ({exc}). "
                               "A registry must run with storage.delete.enabled=true "
                               "(REGISTRY_STORAGE_DELETE_ENABLED=true) to delete images.")
                    return render_template("error.html", status=409, message=message), 409
                raise
            log.info("%s deleted %s:%s (%s)", session.get("user"), name, tag, digest)
            flash(f"Deleted {name}:{tag} ({digest}). Run the registry's garbage collector "
                  "to free the disk space.", "ok")
            return redirect(url_for("tags", name=name))
        siblings = _tags_with_digest(app, name, digest)
        return render_template("delete.html", name=name, tag=tag, digest=digest, siblings=siblings)


def _check_reference(reference):
    if not (TAG_RE.match(reference) or DIGEST_RE.match(reference)):
        abort(404, description=f"{reference!r} is not a valid tag or digest")


def _safe_next(target):
    r"""``target`` if it is a path of this site, else "/".

    Printable ASCII only: browsers drop tabs and newlines inside URLs and read
    a backslash as a slash, so "/\t/evil", "/\\evil" would leave the site, and
    control characters cannot go into a Location header at all. Then no scheme,
    no host, and a path that starts with exactly one "/"."""
    if not target or len(target) > 2048:
        return "/"
    if "\\" in target or any(not 0x21 <= ord(char) <= 0x7E for char in target):
        return "/"
    if not target.startswith("/") or target.startswith("//"):  # "///host" is a host to browsers
        return "/"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _summaries(app, name, references):
    """Summaries of many tags/digests, fetched in parallel; errors shown per row."""
    def one(reference):
        try:
            return app.registry.image_summary(name, reference)
        except RegistryError as exc:
            return {"reference": reference, "error": str(exc), "digest": None, "kind": "error",
                    "size": None, "created": None, "platform": None, "media_type": None}

    if not references:
        return []
    with ThreadPoolExecutor(max_workers=min(app.config["UI_DETAIL_WORKERS"], len(references))) as pool:
        return list(pool.map(one, references))


def _tags_with_digest(app, name, digest, limit=1000):
    """Other tags of the repository that point at the same manifest (deleted with it)."""
    names = app.registry.all_tags(name)[:limit]

    def one(other):
        try:
            return other if app.registry.digest(name, other) == digest else None
        except RegistryError:
            return None

    if not names:
        return []
    with ThreadPoolExecutor(max_workers=min(app.config["UI_DETAIL_WORKERS"], len(names))) as pool:
        return [t for t in pool.map(one, names) if t]
