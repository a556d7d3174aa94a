# -*- coding: utf-8 -*-
"""An app's build context as a reproducible tar: entries sorted, folders first, owner root, mtime 0, mode 0644
(0755 for executables and folders). The images role ships it to a remote builder in one transfer
(images_context's archive); scripts/app_context.py writes it for `docker build -`."""

from __future__ import annotations

import io
import os
import tarfile


def _relative(path):
    return path[2:] if path.startswith("./") else path


def file_mode(src):
    """The mode of a file in a build context: 0755 when its source is executable, else 0644."""
    return 0o755 if os.stat(src).st_mode & 0o111 else 0o644


def write_tar(files, fileobj):
    """Write {path in the context (optionally './'-prefixed): source path} as a tar stream to fileobj."""
    entries = {_relative(rel): str(src) for rel, src in files.items()}
    dirs = set()
    for rel in entries:
        parent = os.path.dirname(rel)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(dirs):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for rel in sorted(entries, key=lambda p: p.encode()):
            with open(entries[rel], "rb") as source:
                data = source.read()
            info = tarfile.TarInfo(rel)
            info.size, info.mtime = len(data), 0
            info.mode = file_mode(entries[rel])
            tar.addfile(info, io.BytesIO(data))


def tar_bytes(files):
    """The tar of write_tar, in memory (build contexts are small)."""
    buffer = io.BytesIO()
    write_tar(files, buffer)
    return buffer.getvalue()
