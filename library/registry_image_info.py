#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: read repositories, tags and manifests from a registry v2 API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_image_info
short_description: Query a Docker registry v2 API for repositories, tags and manifests
description:
  - Without O(repository), lists the repositories of the registry catalog.
  - With O(repository), lists its tags; with O(tag) as well, reads the tag's manifest
    and returns its digest, media type and total size.
  - Follows the registry's pagination (C(Link) header with C(rel="next")).
  - A repository or tag that does not exist gives RV(exists=false), not a failure.
    An authentication failure (HTTP 401 or 403) fails with a clear message.
  - Read-only, so it runs in check mode as well and never reports a change.
  - Uses only the Python standard library on the target.
version_added: "1.0.0"
author:
  - Labs project
options:
  registry_url:
    description: Base URL of the registry, such as V(http://127.0.0.1:5001) or V(https://registry.lab:5000).
    type: str
    required: true
  username:
    description: User name for HTTP basic authentication (htpasswd registries).
    type: str
  password:
    description: Password for HTTP basic authentication.
    type: str
  timeout:
    description: Seconds one request may take.
    type: float
    default: 10
  repository:
    description: Repository name, such as V(labs/student-api). List its tags.
    type: str
  tag:
    description: Tag (or V(sha256:...) digest) of O(repository) whose manifest to read. Requires O(repository).
    type: str
  images:
    description:
      - References V(repository:tag) to look up in one call (what the images role compares before pushing).
        Each is answered in RV(images); a missing one has C(exists=false). Not with O(repository).
    type: list
    elements: str
  page_size:
    description: Number of entries asked for per page of the catalog and tag lists.
    type: int
    default: 100
extends_documentation_fragment:
  - labs
  - labs.read_only
  - labs.tls
notes:
  - Only basic authentication is supported, not the token (Bearer) flow of public registries.
  - Redirects are not followed.
  - Shares its HTTP client (C(module_utils/labs_http.py)) with the other modules of the project.
seealso:
  - module: community.docker.docker_image_info
"""

EXAMPLES = r"""
- name: List the repositories of the lab registry
  registry_image_info:
    registry_url: http://127.0.0.1:5001
    username: labs
    password: "{{ registry_password }}"
  register: catalog

- name: Tags of the student API
  registry_image_info:
    registry_url: https://registry.lab:5000
    ca_path: /etc/labs/ca.pem
    username: labs
    password: "{{ registry_password }}"
    repository: labs/student-api
  register: student_tags

- name: Digest and size of the pushed image
  registry_image_info:
    registry_url: http://127.0.0.1:5001
    username: labs
    password: "{{ registry_password }}"
    repository: labs/student-api
    tag: "1.2.0"
  register: image

- name: The image must be in the registry
  ansible.builtin.assert:
    that: image.exists
"""

RETURN = r"""
exists:
  description:
    - Whether O(tag) exists in O(repository) when O(tag) is given, else whether
      O(repository) exists when it is given; V(true) for a catalog listing.
  returned: always
  type: bool
  sample: true
images:
  description: One entry per reference of O(images), in the same order.
  returned: when O(images) is given
  type: list
  elements: dict
  contains:
    reference:
      description: The reference as given.
      type: str
    exists:
      description: Whether the tag exists in the registry.
      type: bool
    digest:
      description: Digest of its manifest; empty when it does not exist.
      type: str
  sample: [{reference: "labs/etl:latest", exists: true, digest: "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"}]
repositories:
  description: Repository names of the catalog, every page included.
  returned: when neither O(repository) nor O(images) is given
  type: list
  elements: str
  sample: [labs/student-api, labs/website]
tags:
  description: Tags of O(repository), every page included; empty when it does not exist.
  returned: when O(repository) is given
  type: list
  elements: str
  sample: ["1.2.0", latest]
digest:
  description:
    - Digest of the manifest of O(tag) (C(Docker-Content-Digest) header, else the
      sha256 of the manifest). For a multi-platform image this is the digest of
      the index (manifest list), see RV(is_index).
  returned: when O(tag) is given and exists
  type: str
  sample: sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b
media_type:
  description: Media type of the manifest.
  returned: when O(tag) is given and exists
  type: str
  sample: application/vnd.docker.distribution.manifest.v2+json
size:
  description:
    - Total size in bytes of the image, the config blob plus every layer (compressed).
    - V(null) for an index or a manifest type without sizes.
  returned: when O(tag) is given and exists
  type: int
  sample: 31457280
is_index:
  description: Whether the tag points to an image index (manifest list) rather than one image.
  returned: when O(tag) is given and exists
  type: bool
  sample: false
manifests:
  description: For an index, the images it lists.
  returned: when RV(is_index) is true
  type: list
  elements: dict
  contains:
    digest:
      description: Digest of the image manifest.
      type: str
    media_type:
      description: Media type of the image manifest.
      type: str
    platform:
      description: Platform such as V(linux/amd64) (with C(/variant) when there is one).
      type: str
"""

import hashlib
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labs_http import HttpError, parse_link_header, request, tls_argument_spec

ARGUMENT_SPEC = dict(
    registry_url=dict(type="str", required=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    timeout=dict(type="float", default=10),
    repository=dict(type="str"),
    tag=dict(type="str"),
    images=dict(type="list", elements="str"),
    page_size=dict(type="int", default=100),
    **tls_argument_spec(),
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX))


class Registry:
    """Registry v2 calls; every way of failing ends in ``fail_json``."""

    def __init__(self, module):
        self.module = module
        self.base = module.params["registry_url"].rstrip("/")

    def get(self, url, accept=None):
        """GET ``url`` (absolute, or a path under the registry): 200 or 404 Response."""
        params = self.module.params
        if url.startswith("/"):
            url = self.base + url
        try:
            response = request(
                url, headers={"accept": accept} if accept else None,
                username=params["username"], password=params["password"],
                ca_path=params["ca_path"], validate_certs=params["validate_certs"],
                timeout=params["timeout"])
        except HttpError as exc:
            self.module.fail_json(msg="registry not reachable: %s" % exc)
        if response.status in (401, 403):
            challenge = response.headers.get("www-authenticate", "")
            hint = "check username and password"
            if challenge.lower().startswith("bearer"):
                hint = "this registry wants token (Bearer) authentication, which is not supported"
            elif params["username"] is None:
                hint = "the registry requires credentials: set username and password"
            self.module.fail_json(
                msg="registry refused access (HTTP %d) to %s: %s" % (response.status, url, hint),
                status=response.status)
        if response.status not in (200, 404):
            self.module.fail_json(
                msg="unexpected HTTP %d from %s: %s" % (response.status, url, response.excerpt(200)),
                status=response.status)
        return response

    def json(self, response):
        try:
            return response.json()
        except ValueError:
            self.module.fail_json(msg="%s did not answer JSON: %s" % (response.url, response.excerpt(200)))

    def ping(self):
        if self.get("/v2/").status != 200:
            self.module.fail_json(msg="%s does not serve the registry v2 API (GET /v2/ gave 404)" % self.base)

    def paginated(self, path, key):
        """Every ``key`` item over all pages of ``path``; ``None`` on 404."""
        url = "%s%s?n=%d" % (self.base, path, self.module.params["page_size"])
        origin = urllib.parse.urlsplit(self.base)[:2]
        items, seen = [], set()
        while url:
            seen.add(url)
            response = self.get(url)
            if response.status == 404:
                return None
            items.extend(self.json(response).get(key) or [])
            url = parse_link_header(response.headers.get("link"), url).get("next")
            if url in seen or (url and urllib.parse.urlsplit(url)[:2] != origin):
                self.module.fail_json(msg="refusing to follow pagination link %s" % url)
        return items

    def manifest(self, repository, reference):
        """Facts about the manifest, or ``None`` when it does not exist."""
        response = self.get("/v2/%s/manifests/%s" % (repository, urllib.parse.quote(reference, safe=":")),
                            accept=ACCEPT)
        if response.status == 404:
            return None
        manifest = self.json(response)
        media_type = (manifest.get("mediaType")
                      or response.headers.get("content-type", "").split(";")[0].strip())
        digest = (response.headers.get("docker-content-digest")
                  or "sha256:" + hashlib.sha256(response.body).hexdigest())
        facts = dict(digest=digest, media_type=media_type, size=None,
                     is_index=media_type in INDEX_TYPES or "manifests" in manifest)
        if facts["is_index"]:
            facts["manifests"] = [
                dict(digest=item.get("digest"), media_type=item.get("mediaType"),
                     platform="/".join(filter(None, (
                         item.get("platform", {}).get(part)
                         for part in ("os", "architecture", "variant")))))
                for item in manifest.get("manifests") or []]
        elif "layers" in manifest and "config" in manifest:
            facts["size"] = manifest["config"].get("size", 0) + sum(
                layer.get("size", 0) for layer in manifest["layers"])
        return facts


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_by=dict(tag="repository"), mutually_exclusive=[("images", "repository")])
    params = module.params
    if params["page_size"] < 1:
        module.fail_json(msg="page_size must be at least 1")
    registry = Registry(module)
    registry.ping()
    repository = params["repository"]
    result = dict(changed=False, exists=True)
    if params["images"] is not None:
        result["images"] = []
        for reference in params["images"]:
            repo, _, tag = reference.rpartition(":")
            if not repo or "/" in tag:
                module.fail_json(msg="%r is not a repository:tag reference" % reference)
            facts = registry.manifest(urllib.parse.quote(repo.strip("/"), safe="/"), tag)
            result["images"].append(dict(reference=reference, exists=facts is not None,
                                         digest=(facts or {}).get("digest", "")))
        result["exists"] = all(i["exists"] for i in result["images"])
        module.exit_json(**result)
    if repository is None:
        result["repositories"] = registry.paginated("/v2/_catalog", "repositories")
        if result["repositories"] is None:
            module.fail_json(msg="%s has no catalog (GET /v2/_catalog gave 404)" % registry.base)
        module.exit_json(**result)
    repository = urllib.parse.quote(repository.strip("/"), safe="/")
    tags = registry.paginated("/v2/%s/tags/list" % repository, "tags")
    result.update(exists=tags is not None, tags=tags or [])
    if params["tag"] is not None and tags is not None:
        facts = registry.manifest(repository, params["tag"])
        result["exists"] = facts is not None
        result.update(facts or {})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
