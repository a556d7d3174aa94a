"""Test doubles shared by the unit tests: a real HTTP(S) server on 127.0.0.1
driven by a Python function, a self-signed PKI for TLS tests, and a helper
that runs a module's ``main()`` in-process and returns its JSON result."""

from __future__ import annotations

import base64
import datetime
import io
import ipaddress
import json
import ssl
import threading
import urllib.parse
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ansible.module_utils.testing import patch_module_args


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict
    headers: dict  # lower-cased names
    body: bytes
    auth: tuple | None = None  # (username, password) from basic auth


@dataclass
class Reply:
    status: int = 200
    body: object = b""  # bytes, str, or anything else sent as JSON
    headers: dict = field(default_factory=dict)

    def encoded(self):
        headers = dict(self.headers)
        body = self.body
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        return headers, body


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that hang up on purpose (timeouts, TLS rejections) are expected


class FakeServer:
    """``with FakeServer(handler) as srv:`` serves ``handler(FakeRequest) -> Reply``
    on ``srv.url`` (http, or https when ``tls=(certfile, keyfile)``).
    Every request is kept in ``srv.requests``."""

    def __init__(self, handler, tls=None):
        self.handler = handler
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                split = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                auth = None
                value = self.headers.get("Authorization", "")
                if value.startswith("Basic "):
                    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
                    auth = (user, password)
                req = FakeRequest(
                    method=self.command,
                    path=urllib.parse.unquote(split.path),
                    query=urllib.parse.parse_qs(split.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    auth=auth,
                )
                fake.requests.append(req)
                reply = fake.handler(req)
                headers, body = reply.encoded()
                self.send_response(reply.status)
                for name, value in headers.items():
                    for one in value if isinstance(value, list) else [value]:
                        self.send_header(name, one)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = _serve

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def make_pki(directory):
    """A CA and a server certificate for 127.0.0.1/localhost signed by it.

    Returns a dict of PEM file paths: ``ca``, ``cert``, ``key``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(directory)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def build(subject, issuer, public_key):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (build(name("labs test CA"), name("labs test CA"), ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=True,
                   crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (build(name("127.0.0.1"), ca_cert.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem",
             "key": directory / "server.key"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}


def run_module(module, args, check_mode=False):
    """Run ``module.main()`` with ``args``; return its JSON result.

    ``failed`` is true in the result when the module called ``fail_json``.
    """
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    out = io.StringIO()
    with patch_module_args(args), redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
        else:
            raise AssertionError("module did not exit through exit_json/fail_json")
    return json.loads(out.getvalue())
