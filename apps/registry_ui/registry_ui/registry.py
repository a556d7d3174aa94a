"""A small Docker Registry HTTP API v2 client (distribution 2.x, OCI).

Only what the UI needs: catalog and tag pages (n/last, following the Link
header), manifests (Docker v2, OCI, lists and indexes), config blobs and
manifest deletion. Basic auth, or bearer tokens when the registry asks.
"""

import hashlib
import re
import threading
import time
import urllib.parse
from collections import OrderedDict

import requests

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX))
MAX_PAGES = 10000  # bound on Link-following loops (defends against a looping registry)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """The registry could not be reached or answered with an error."""

    def __init__(self, message, status=None, code=None):
        super().__init__(message)
        self.status = status  # HTTP status from the registry, None if unreachable
        self.code = code  # first error code of the registry's JSON error body


def next_last(response):
    """The ``last`` value of the Link: <...>; rel="next" header, or None."""
    link = response.links.get("next")
    if not link:
        return None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link["url"]).query)
    values = query.get("last")
    return values[0] if values else None


class Registry:
    def __init__(self, url, username=None, password=None, ca_file=None, timeout=10.0):
        self.url = url.rstrip("/")
        self.auth = (username, password) if username else None
        self.verify = ca_file or True
        self.timeout = timeout
        self._local = threading.local()
        self._tokens = {}
        self._blob_cache = OrderedDict()
        self._lock = threading.Lock()

    # -- transport -----------------------------------------------------------

    @property
    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:  # one session per thread (requests.Session is not thread-safe)
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = "registry_ui"
        return session

    def request(self, method, path, scope=None, **kwargs):
        url = self.url + path
        headers = kwargs.pop("headers", {})
        token = self._cached_token(scope)
        try:
            resp = self._send(method, url, headers, token, kwargs)
            if resp.status_code == 401 and "bearer" in resp.headers.get("WWW-Authenticate", "").lower():
                token = self._fetch_token(resp.headers["WWW-Authenticate"], scope)
                resp = self._send(method, url, headers, token, kwargs)
        except requests.RequestException as exc:
            raise RegistryError(f"registry unreachable: {exc.__class__.__name__}: {exc}") from None
        if resp.status_code >= 400:
            raise _error_from(resp)
        return resp

    def _send(self, method, url, headers, token, kwargs):
        if token:
            headers = dict(headers, Authorization=f"Bearer {token}")
            auth = None
        else:
            auth = self.auth
        return self._session.request(method, url, headers=headers, auth=auth, verify=self.verify,
                                     timeout=self.timeout, allow_redirects=True, **kwargs)

    def _cached_token(self, scope):
        with self._lock:
            token, expires = self._tokens.get(scope, (None, 0))
        return token if expires > time.monotonic() else None

    def _fetch_token(self, challenge, scope):
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", None)
        if not realm:
            raise RegistryError("registry asked for a bearer token without a realm", status=401)
        query = {"service": params["service"]} if "service" in params else {}
        wanted = params.get("scope") or scope
        if wanted:
            query["scope"] = wanted
        try:
            resp = self._session.get(realm, params=query, auth=self.auth, verify=self.verify,
                                     timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistryError(f"token service unreachable: {exc}") from None
        if resp.status_code != 200:
            raise RegistryError(f"token service answered HTTP {resp.status_code}", status=401)
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError("token service answered without a token", status=401)
        lifetime = max(int(body.get("expires_in") or 60) - 10, 5)
        with self._lock:
            self._tokens[scope] = (token, time.monotonic() + lifetime)
        return token

    # -- API -----------------------------------------------------------------

    def ping(self):
        self.request("GET", "/v2/")

    def catalog_page(self, n, last=None):
        """One page of repository names and the ``last`` of the next page (None at the end)."""
        params = {"n": n}
        if last:
            params["last"] = last
        resp = self.request("GET", "/v2/_catalog", scope="registry:catalog:*", params=params)
        return list(resp.json().get("repositories") or []), next_last(resp)

    def tags_page(self, name, n, last=None):
        params = {"n": n}
        if last:
            params["last"] = last
        resp = self.request("GET", f"/v2/{_path(name)}/tags/list", scope=_pull(name), params=params)
        tags = sorted(resp.json().get("tags") or [])
        if last:
            tags = [tag for tag in tags if tag > last]
        if len(tags) > n:
            # distribution 2.x ignores n/last on tags/list and sends every tag
            # (unsorted): page them here the way the API would have.
            return tags[:n], tags[n - 1]
        return tags, next_last(resp)

    def all_tags(self, name, n=1000):
        tags, last = self.tags_page(name, n)
        for _ in range(MAX_PAGES):
            if not last:
                break
            page, last = self.tags_page(name, n, last)
            tags.extend(page)
        return tags

    def manifest(self, name, reference):
        """GET a manifest: dict with digest, media_type, size (bytes of the manifest) and json."""
        resp = self.request("GET", f"/v2/{_path(name)}/manifests/{_path(reference)}",
                            scope=_pull(name), headers={"Accept": ACCEPT})
        body = resp.content
        digest = resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        try:
            doc = resp.json()
        except ValueError:
            raise RegistryError(f"manifest {name}:{reference} is not JSON") from None
        media_type = doc.get("mediaType") or resp.headers.get("Content-Type", "").split(";")[0]
        return {"digest": digest, "media_type": media_type, "size": len(body), "json": doc}

    def digest(self, name, reference):
        """The digest a tag points at now (HEAD, so no body is transferred)."""
        resp = self.request("HEAD", f"/v2/{_path(name)}/manifests/{_path(reference)}",
                            scope=_pull(name), headers={"Accept": ACCEPT})
        digest = resp.headers.get("Docker-Content-Digest")
        return digest or self.manifest(name, reference)["digest"]

    def blob_json(self, name, digest):
        """A JSON blob (image config). Content-addressed, so cached by digest."""
        with self._lock:
            if digest in self._blob_cache:
                self._blob_cache.move_to_end(digest)
                return self._blob_cache[digest]
        resp = self.request("GET", f"/v2/{_path(name)}/blobs/{_path(digest)}", scope=_pull(name))
        try:
            doc = resp.json()
        except ValueError:
            raise RegistryError(f"blob {digest} is not JSON") from None
        with self._lock:
            self._blob_cache[digest] = doc
            while len(self._blob_cache) > 512:
                self._blob_cache.popitem(last=False)
        return doc

    def delete_manifest(self, name, digest):
        self.request("DELETE", f"/v2/{_path(name)}/manifests/{_path(digest)}",
                     scope=f"repository:{name}:delete,pull")

    # -- what the pages show -------------------------------------------------

    def image_summary(self, name, reference, with_config=True):
        """Digest, type, size, created, platform, layers and history of a tag or digest."""
        man = self.manifest(name, reference)
        doc = man["json"]
        info = {"reference": reference, "digest": man["digest"], "media_type": man["media_type"],
                "kind": "other", "size": None, "created": None, "platform": None,
                "layers": [], "history": [], "children": []}
        if man["media_type"] in IMAGE_TYPES or ("config" in doc and "layers" in doc):
            config_desc = doc.get("config") or {}
            layers = doc.get("layers") or []
            info["kind"] = "image"
            info["layers"] = layers
            info["size"] = int(config_desc.get("size") or 0) + sum(int(layer.get("size") or 0) for layer in layers)
            if with_config and config_desc.get("digest"):
                config = self.blob_json(name, config_desc["digest"])
                info["created"] = config.get("created")
                info["platform"] = _platform(config)
                info["history"] = _history(config.get("history") or [], layers)
                info["config"] = config
        elif man["media_type"] in INDEX_TYPES or "manifests" in doc:
            info["kind"] = "index"
            for child in doc.get("manifests") or []:
                annotations = child.get("annotations") or {}
                attestation = annotations.get("vnd.docker.reference.type") == "attestation-manifest"
                info["children"].append({
                    "digest": child.get("digest"), "media_type": child.get("mediaType"),
                    "size": child.get("size"), "platform": _platform(child.get("platform") or {}),
                    "attestation": attestation,
                })
            info["platform"] = ", ".join(c["platform"] for c in info["children"]
                                         if c["platform"] and not c["attestation"])
        return info


def _path(value):
    return urllib.parse.quote(value, safe="/:@")


def _pull(name):
    return f"repository:{name}:pull"


def _platform(doc):
    parts = [doc.get("os"), doc.get("architecture"), doc.get("variant")]
    return "/".join(p for p in parts if p) or None


def _history(history, layers):
    """History entries, each non-empty one paired with its layer's size."""
    rows, sizes = [], [layer.get("size") for layer in layers]
    for entry in history:
        empty = bool(entry.get("empty_layer"))
        size = None if empty or not sizes else sizes.pop(0)
        command = (entry.get("created_by") or "").strip()
        command = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", command)
        rows.append({"created": entry.get("created"), "created_by": command,
                     "comment": entry.get("comment"), "empty_layer": empty, "size": size})
    return rows


def _error_from(resp):
    code, detail = None, ""
    try:
        errors = resp.json().get("errors") or []
        if errors:
            code = errors[0].get("code")
            detail = errors[0].get("message") or ""
    except (ValueError, AttributeError):
        pass
    message = f"registry answered HTTP {resp.status_code}"
    if code:
        message += f" {code}"
    if detail:
        message += f": {detail}"
    return RegistryError(message, status=resp.status_code, code=code)
