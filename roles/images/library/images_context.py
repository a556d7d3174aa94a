#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Module of the images role: stage an app's build context (its folder plus its shared files) in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: images_context
short_description: Stage the build context of an app (its folder plus the shared files it names), or write it as a tar
description:
  - Without O(archive), makes O(dest) hold exactly O(files) - each path in the build context with the content of
    its source file, mode 0644 (0755 when the source is executable) - and nothing else. Files already right are
    left alone; a file no longer in O(files) is removed.
  - With O(archive), writes the context as one reproducible tar instead (entries sorted, owner root, mtime 0; the
    same bytes as scripts/app_context.py writes), rewritten only when its bytes change, and stages no folder: the
    images role ships the tar to a remote builder in one transfer instead of one per file, and nothing reads a
    folder on the control host for that build. A folder staged at O(dest) by an earlier run without O(archive) (the
    host built locally then) is removed, so the control host keeps no stale copy of the context beside the tar;
    its files are listed in RV(removed).
  - The images role runs it on the control host with the file list of its app_builds lookup, so the staged
    context is exactly what the app's build id hashes. One call per app instead of one per file.
  - Check mode reports what would change without writing or removing.
options:
  dest:
    description:
      - Directory to stage the context in (created when missing).
      - With O(archive), nothing is staged there; a folder found there (left by a run without O(archive)) is
        removed. A symlink or a file at O(dest) is left alone.
    type: path
    required: true
  files:
    description: Path in the build context (C(./) prefix allowed) to the path of its source file on this host.
    type: dict
    required: true
  archive:
    description: Write the context as a tar at this path (its folder is created when missing) instead of staging
      it in O(dest); not inside O(dest).
    type: path
author: devops-labs
"""

EXAMPLES = r"""
- name: Stage a context
  images_context:
    dest: /work/.cache/images/localhost/api_backend
    files:
      ./Dockerfile: /work/apps/api_backend/Dockerfile
      ./labs_common/waitress_app.py: /work/apps/labs_common/labs_common/waitress_app.py
  delegate_to: localhost

- name: Write it as one tar for a remote builder (no folder staged)
  images_context:
    dest: /work/.cache/images/builder-1/api_backend
    files:
      ./Dockerfile: /work/apps/api_backend/Dockerfile
    archive: /work/.cache/images/builder-1/api_backend.tar
  delegate_to: localhost
"""

RETURN = r"""
written:
  description: Paths in the context written in O(dest) (new or changed content or mode); empty with O(archive).
  type: list
  elements: str
  returned: always
removed:
  description: Paths removed from O(dest), relative to it - no longer part of the context or, with O(archive),
    every file of the folder an earlier run without O(archive) staged there.
  type: list
  elements: str
  returned: always
archive_changed:
  description: Whether the tar at O(archive) was (or, in check mode, would be) written.
  type: bool
  returned: when O(archive) is set
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.images_tar import file_mode, tar_bytes


def _same(src, dest):
    if not os.path.isfile(dest) or os.path.islink(dest):
        return False
    if (os.stat(dest).st_mode & 0o7777) != file_mode(src) or os.path.getsize(src) != os.path.getsize(dest):
        return False
    with open(src, "rb") as one, open(dest, "rb") as other:
        return one.read() == other.read()


def context(files):
    """{relative path: source}, each path checked to stay in the build context."""
    wanted = {}
    for rel, src in files.items():
        rel = os.path.normpath(rel[2:] if rel.startswith("./") else rel)
        if os.path.isabs(rel) or rel.startswith(".."):
            raise ValueError("%s leaves the build context" % rel)
        wanted[rel] = src
    return wanted


def staged(dest):
    """Paths of the files under dest, relative to it; empty when there is no such folder."""
    present = set()
    if os.path.isdir(dest):
        for root, _dirs, names in os.walk(dest):
            for name in names:
                present.add(os.path.relpath(os.path.join(root, name), dest))
    return present


def plan(dest, files):
    """(wanted {relative path: source}, paths to write, paths to remove), relative to dest."""
    wanted = context(files)
    present = staged(dest)
    write = sorted(rel for rel, src in wanted.items() if not _same(src, os.path.join(dest, rel)))
    remove = sorted(present - set(wanted))
    return wanted, write, remove


def stage(dest, wanted, write, remove):
    for rel in remove:
        os.remove(os.path.join(dest, rel))
    for rel in write:
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        tmp = target + ".images-tmp"
        shutil.copyfile(wanted[rel], tmp)
        os.chmod(tmp, file_mode(wanted[rel]))
        os.replace(tmp, target)
    for root, dirs, names in os.walk(dest, topdown=False):  # folders left empty by a removal
        if root != dest and not os.listdir(root):
            os.rmdir(root)


def archive_differs(path, data):
    try:
        with open(path, "rb") as current:
            return current.read() != data
    except FileNotFoundError:
        return True


def main():
    module = AnsibleModule(argument_spec={"dest": {"type": "path", "required": True},
                                          "files": {"type": "dict", "required": True},
                                          "archive": {"type": "path"}},
                           supports_check_mode=True)
    dest, archive = module.params["dest"], module.params["archive"]
    write, remove, result, changed = [], [], {}, False
    try:
        if archive:
            # Only the tar is used (a remote builder unpacks it): no folder is staged, and one an earlier run
            # without archive staged is removed rather than left to go stale.
            if os.path.commonpath([os.path.abspath(archive), os.path.abspath(dest)]) == os.path.abspath(dest):
                raise ValueError("the archive %s is inside %s, which is removed with archive set" % (archive, dest))
            data = tar_bytes(context(module.params["files"]))
            stale = os.path.isdir(dest) and not os.path.islink(dest)
            remove = sorted(staged(dest)) if stale else []
            result["archive_changed"] = archive_differs(archive, data)
            if not module.check_mode:
                if stale:
                    shutil.rmtree(dest)
                if result["archive_changed"]:
                    os.makedirs(os.path.dirname(archive) or ".", mode=0o755, exist_ok=True)
                    with open(archive + ".images-tmp", "wb") as out:
                        out.write(data)
                    os.replace(archive + ".images-tmp", archive)
            changed = stale or result["archive_changed"]
        else:
            wanted, write, remove = plan(dest, module.params["files"])
            created = not os.path.isdir(dest)
            if not module.check_mode and (write or remove or created):
                os.makedirs(dest, mode=0o755, exist_ok=True)
                stage(dest, wanted, write, remove)
            changed = bool(write or remove)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot stage %s: %s" % (archive or dest, exc))
    module.exit_json(changed=bool(changed), written=write, removed=remove, **result)


if __name__ == "__main__":
    main()
