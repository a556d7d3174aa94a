# -*- coding: utf-8 -*-
"""One small HTTP client shared by every module of the project.

Standard library only (``urllib`` + ``ssl``): modules run on remote hosts
where ``requests`` may be missing.

Behaviour, in short:

* ``request()`` returns a ``Response`` for *every* HTTP status, 4xx and 5xx
  included; it raises ``HttpError`` only when no HTTP answer was obtained
  (connection refused, DNS failure, TLS failure, timeout, malformed reply,
  unusable CA file).
* Redirects are never followed: a 3xx is returned as it is, with its
  ``location`` header, so credentials are never replayed to another URL
  and the caller decides what a redirect means.
* Basic auth is sent pre-emptively when ``username`` is given.
* TLS: the system trust store by default; ``ca_path`` (a PEM file, or a
  directory of hashed certificates) replaces it; ``validate_certs=False``
  turns verification off.
* Proxies come from the usual ``http_proxy``/``https_proxy``/``no_proxy``
  environment variables, as with every urllib based client.
* ``wait_until()`` is the one retry loop with backoff of the project.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "HttpError",
    "Response",
    "request",
    "wait_until",
    "parse_link_header",
    "excerpt",
    "split_json_path",
    "json_path_get",
    "tls_argument_spec",
]

EXCERPT_CHARS = 512


def tls_argument_spec():
    """A fresh argument_spec of the TLS options that feed ``request()``.

    ``ca_path`` and ``validate_certs``, documented for the modules by the
    ``labs.tls`` doc fragment (plugins/doc_fragments/labs.py).
    """
    return dict(
        ca_path=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
    )


class HttpError(Exception):
    """No HTTP answer: connection refused, DNS, TLS, timeout, broken reply.

    Never raised for an HTTP error status: those are ordinary ``Response``s.
    ``url`` is the URL that was requested.
    """

    def __init__(self, message, url=None):
        super().__init__(message)
        self.url = url


def excerpt(text, limit=EXCERPT_CHARS):
    """``text`` cut to ``limit`` characters, with a marker when it was cut."""
    if text is None:
        return ""
    if len(text) <= limit:
        return text
    return text[:limit] + "...[%d more characters]" % (len(text) - limit)


class Response:
    """An HTTP answer.

    ``status`` (int), ``headers`` (dict, lower-cased names; repeated headers
    joined with ``", "``), ``body`` (bytes; empty for HEAD), ``url`` (the URL
    requested; redirects are not followed).
    """

    def __init__(self, status, headers, body, url):
        self.status = int(status)
        self.headers = dict((k.lower(), v) for k, v in (headers or {}).items())
        self.body = body or b""
        self.url = url

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.url)

    def text(self):
        """The body decoded with the charset of ``content-type`` (UTF-8 by default)."""
        match = re.search(r"charset=([\w.-]+)", self.headers.get("content-type", ""), re.I)
        encoding = match.group(1) if match else "utf-8"
        try:
            return self.body.decode(encoding, errors="replace")
        except LookupError:  # unknown charset name
            return self.body.decode("utf-8", errors="replace")

    def json(self):
        """The body parsed as JSON; ``ValueError`` when it is not JSON."""
        return json.loads(self.text())

    def excerpt(self, limit=EXCERPT_CHARS):
        """The start of the decoded body, for messages and results."""
        return excerpt(self.text(), limit)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then hands the 3xx back as an HTTPError


def _ssl_context(ca_path, validate_certs):
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if not ca_path:
        return ssl.create_default_context()
    try:
        if os.path.isdir(ca_path):
            return ssl.create_default_context(capath=ca_path)
        return ssl.create_default_context(cafile=ca_path)
    except (OSError, ssl.SSLError) as exc:
        raise HttpError("cannot load CA certificates from %s: %s" % (ca_path, exc))


def _headers_of(message):
    headers = {}
    for name, value in message.items():
        name = name.lower()
        headers[name] = headers[name] + ", " + value if name in headers else value
    return headers


def to_uri(url):
    """Percent-encode what a URL may not carry as is (``/students/Zoé`` -> ``/students/Zo%C3%A9``).

    Characters already legal in a URI, including existing ``%XX`` escapes and the
    reserved delimiters, are left alone, so an encoded URL passes through unchanged.
    """
    parts = urllib.parse.urlsplit(url)
    safe = "/:@!$&'()*+,;=%~-._"
    return urllib.parse.urlunsplit((
        parts.scheme, parts.netloc,
        urllib.parse.quote(parts.path, safe=safe),
        urllib.parse.quote(parts.query, safe=safe + "?"),
        urllib.parse.quote(parts.fragment, safe=safe + "?"),
    ))


def request(url, *, method="GET", headers=None, data=None, username=None,
            password=None, ca_path=None, validate_certs=True, timeout=10.0):
    """Send one HTTP request and return its ``Response``, whatever the status.

    ``data`` is bytes, a str (sent UTF-8) or any other value, which is sent
    as JSON with ``content-type: application/json`` unless ``headers`` sets one.
    Raises ``HttpError`` when no HTTP answer is obtained (see module doc).
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise HttpError("not an http(s) URL: %r" % (url,), url)
    send_headers = dict((k.lower(), v) for k, v in (headers or {}).items())
    if data is not None and not isinstance(data, (bytes, bytearray)):
        if isinstance(data, str):
            data = data.encode("utf-8")
        else:
            data = json.dumps(data).encode("utf-8")
            send_headers.setdefault("content-type", "application/json")
    if username is not None:
        token = "%s:%s" % (username, password or "")
        send_headers["authorization"] = "Basic " + base64.b64encode(
            token.encode("utf-8")).decode("ascii")
    handlers = [_NoRedirect()]
    if parsed.scheme == "https":
        handlers.append(urllib.request.HTTPSHandler(
            context=_ssl_context(ca_path, validate_certs)))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(to_uri(url), data=data, headers=send_headers, method=method.upper())
    try:
        try:
            answer = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as error:  # any status urllib calls an error
            answer = error
        with answer:
            body = answer.read() if answer.fp is not None else b""
            return Response(answer.getcode(), _headers_of(answer.headers), body, url)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            reason = "timed out after %ss" % (timeout,)
        elif isinstance(reason, ssl.SSLCertVerificationError):
            reason = "certificate verify failed: %s" % (reason.verify_message,)
        raise HttpError("%s %s: %s" % (method.upper(), url, reason), url)
    except (socket.timeout, TimeoutError):
        raise HttpError("%s %s: timed out after %ss" % (method.upper(), url, timeout), url)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise HttpError("%s %s: %s" % (method.upper(), url, str(exc) or type(exc).__name__), url)


def wait_until(check, *, retries, delay, backoff=1.5, max_delay=10.0,
               sleep=time.sleep, clock=time.monotonic):
    """Call ``check()`` until its result is truthy, at most ``retries + 1`` times.

    ``retries`` counts the calls after the first (``retries=0``: one call).
    Between calls it sleeps ``delay`` seconds, then ``delay * backoff``, ...,
    each pause capped at ``max_delay``; there is no pause after the last call.
    Exceptions from ``check()`` propagate (catch ``HttpError`` inside it to
    retry on connection failures).

    Returns ``(result, attempts, elapsed)``: the last result (falsy when every
    call failed), the number of calls made and the seconds spent.
    """
    if retries < 0 or delay < 0:
        raise ValueError("retries and delay must not be negative")
    start = clock()
    pause = delay
    attempts = 0
    while True:
        attempts += 1
        result = check()
        if result or attempts > retries:
            return result, attempts, clock() - start
        sleep(min(pause, max_delay))
        pause *= backoff


_LINK_RE = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]*)*)')
_PARAM_RE = re.compile(r';\s*([\w*-]+)\s*=\s*"?([^";,]*)"?')


def parse_link_header(value, base_url=None):
    """RFC 8288 ``Link`` header -> ``{rel: absolute URL}``.

    Relative targets are resolved against ``base_url`` when given.
    """
    links = {}
    for target, params in _LINK_RE.findall(value or ""):
        if base_url:
            target = urllib.parse.urljoin(base_url, target)
        for name, rels in _PARAM_RE.findall(params):
            if name.lower() == "rel":
                for rel in rels.split():
                    links.setdefault(rel.lower(), target)
    return links


def split_json_path(path):
    """``"a.b\\.c.0"`` -> ``["a", "b.c", "0"]``; a list is taken as already split.

    In the string form ``\\.`` is a literal dot and ``\\\\`` a literal backslash.
    ``None`` and ``""`` mean the whole document (``[]``).
    """
    if path is None or path == "":
        return []
    if isinstance(path, (list, tuple)):
        return list(path)
    parts, current, chars = [], "", iter(str(path))
    for char in chars:
        if char == "\\":
            current += next(chars, "\\")
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def json_path_get(document, path):
    """The value at ``path`` (see ``split_json_path``) in parsed JSON.

    Mapping steps use the key as a string; list steps need an integer (or
    digits). Raises ``LookupError`` naming the first step that is missing.
    """
    value = document
    walked = []
    for step in split_json_path(path):
        walked.append(str(step))
        if isinstance(value, dict) and str(step) in value:
            value = value[str(step)]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", str(step)) \
                and -len(value) <= int(step) < len(value):
            value = value[int(step)]
        else:
            raise LookupError("json path %s not found" % ".".join(walked))
    return value
