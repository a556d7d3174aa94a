"""Lookup of the images role: what identifies the build of each app, computed on the control host in one pass.

Python rather than a find | sort | sha256sum pipeline and a Jinja hash per app: one call for every app keeps
a run with nothing to build down to a few tasks, and the identity is unit-tested
(tests/unit/test_images_app_builds.py).
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: app_builds
short_description: Version, git revision and build id of each app of the images role
description:
  - For each app folder named in the terms, under O(apps_dir) - its VERSION, the last git commit that touched
    it and that commit's date, the sha256 of every file of its build context (path and content; caches left
    out), and the build id that hashes all of these with the base images' IDs and the labels.
  - An image carrying the same io.devops-labs.build-id label is this very build and is not rebuilt.
options:
  _terms:
    description: App folder names.
    required: true
  apps_dir:
    description: Directory holding one folder per app.
    type: path
    required: true
  base_ids:
    description: IDs of the base images the apps build on.
    type: list
    default: []
  namespace:
    description: Repository namespace; the image is built as <namespace>/<app>:<version> and tagged :latest.
    type: str
    required: true
  registry:
    description: Registry host:port the image is also named for (tags <registry>/<namespace>/<app>:<version>|latest); empty for none.
    type: str
    default: ""
  source_url:
    description: Value of the org.opencontainers.image.source label.
    type: str
    default: ""
"""

RETURN = r"""
_list:
  description: >-
    One dict per app - app, version, revision, created, context_digest, shared (the files its SHARED file
    names, each src on the control host and dest in the build context), files (every file of the build
    context, './<path in the context>' to its path on the control host), hub_url (the name in the registry, or
    the local one without a registry), build_id, name (<namespace>/<app>:<version>, what is built), tags (every
    other reference it carries), pushes (the references pushed to the registry).
  type: list
  elements: dict
"""

import hashlib
import os
import subprocess

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# Folders of a build context that are caches, not inputs.
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".hypothesis"}


SHARED_FILE = "SHARED"


def shared_files(apps_dir, app):
    """The shared files the app's SHARED file names: [{'src': path on the control host, 'dest': path in the
    build context}], in the file's order. Lines are '<source, relative to apps_dir> <path in the context>';
    blank lines and '#' comments are skipped. A missing SHARED file means no shared code."""
    path = os.path.join(apps_dir, app, SHARED_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AnsibleLookupError("app %s: cannot read %s: %s" % (app, SHARED_FILE, exc)) from exc
    shared = []
    for number, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = "apps/%s/%s line %d" % (app, SHARED_FILE, number)
        if len(fields) != 2:
            raise AnsibleLookupError("%s: expected '<source> <path in the context>', got %r" % (where, line))
        src, dest = fields
        dest_norm = os.path.normpath(dest)
        if os.path.isabs(dest) or dest_norm.startswith(".."):
            raise AnsibleLookupError("%s: %s leaves the build context" % (where, dest))
        full = os.path.normpath(os.path.join(apps_dir, src))
        if not os.path.isfile(full):
            raise AnsibleLookupError("%s: no such file %s" % (where, full))
        if os.path.exists(os.path.join(apps_dir, app, dest_norm)):
            raise AnsibleLookupError("%s: %s is already a file of the app" % (where, dest))
        shared.append({"src": full, "dest": dest_norm})
    return shared


def folder_files(path):
    """{'./<relative path>': path} for every file under path, caches left out."""
    files = {}
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in names:
            full = os.path.join(root, name)
            if os.path.isfile(full):
                files["./" + os.path.relpath(full, path)] = full
    return files


def context_files(apps_dir, app):
    """{'./<path in the build context>': path on the control host}: every file of apps_dir/app (caches left
    out) and the shared files its SHARED file names: the build context the images role stages."""
    files = folder_files(os.path.join(apps_dir, app))
    for item in shared_files(apps_dir, app):
        files["./" + item["dest"]] = item["src"]
    return files


def digest_files(files):
    """sha256 over '<sha256 of the file>  <context path>' lines in byte order (as sha256sum would print them)."""
    lines = []
    for rel in sorted(files, key=lambda p: p.encode()):
        with open(files[rel], "rb") as handle:
            lines.append("%s  %s\n" % (hashlib.sha256(handle.read()).hexdigest(), rel))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def context_digest(path):
    """Digest of a folder's own files: what find | sort | sha256sum prints for it."""
    return digest_files(folder_files(path))


def git_revision(apps_dir, app, extra_paths=()):
    """(commit, committer date) of the last commit that touched the app or one of extra_paths (its shared
    files), or ('unknown', 'unknown')."""
    try:
        out = subprocess.run(["git", "-C", apps_dir, "log", "-1", "--format=%H/%cI", "--", app,
                              *[os.path.relpath(p, apps_dir) for p in extra_paths]],
                             capture_output=True, text=True, check=False, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    revision, _, created = (out or "unknown/unknown").partition("/")
    return revision, created


def app_build(apps_dir, app, base_ids, namespace, registry, source_url):
    folder = os.path.join(apps_dir, app)
    try:
        with open(os.path.join(folder, "VERSION"), encoding="utf-8") as handle:
            version = handle.read().strip()
    except OSError as exc:
        raise AnsibleLookupError("app %s has no readable VERSION file: %s" % (app, exc)) from exc
    shared = shared_files(apps_dir, app)
    revision, created = git_revision(apps_dir, app, [item["src"] for item in shared])
    files = context_files(apps_dir, app)
    digest = digest_files(files)
    hub_url = "%s%s/%s" % (registry + "/" if registry else "", namespace, app)
    build_id = hashlib.sha256("|".join(
        [digest, ",".join(sorted(base_ids)), hub_url, version, revision, created, source_url]).encode()).hexdigest()
    pushes = ["%s:%s" % (hub_url, version), hub_url + ":latest"] if registry else []
    return {"app": app, "version": version, "revision": revision, "created": created,
            "context_digest": digest, "shared": shared, "files": files, "hub_url": hub_url, "build_id": build_id,
            "name": "%s/%s:%s" % (namespace, app, version), "tags": ["%s/%s:latest" % (namespace, app)] + pushes,
            "pushes": pushes}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        apps_dir = self.get_option("apps_dir")
        return [app_build(apps_dir, app, list(self.get_option("base_ids") or []), self.get_option("namespace"),
                          self.get_option("registry") or "", self.get_option("source_url")) for app in terms]
