"""Atomic file replacement: write a hidden temporary file in the target's
directory, fsync it, then ``os.replace`` it over the target.

A reader therefore sees either the complete old file or the complete new
one, never a half-written file; a crash or an error leaves the old file in
place (and removes the temporary file when Python still runs).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import IO, Any, List, Optional

from etl.errors import OutputError

BUFFER_SIZE = 1 << 20


class AtomicFile:
    """A file that becomes visible under ``path`` only on :meth:`commit`.

    Use as a context manager; leaving the block without commit() (for
    instance because of an exception) discards the temporary file.
    ``defer=True`` makes commit() only flush+fsync, the caller then calls
    :meth:`publish` (used to publish several files after a DB commit).
    """

    def __init__(self, path: str, mode: str = "w", encoding: Optional[str] = "utf-8", newline: Optional[str] = None):
        if mode not in ("w", "wb"):
            raise ValueError("mode must be 'w' or 'wb'")
        self.path = path
        directory = os.path.dirname(os.path.abspath(path)) or "."
        try:
            fd, self.tmp_path = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
            )
        except OSError as exc:
            raise OutputError(f"cannot create a file in {directory}: {exc.strerror or exc}") from exc
        # mkstemp creates 0600; outputs are meant to be shared read-only.
        os.fchmod(fd, 0o644)
        if "b" in mode:
            self.file: IO[Any] = open(fd, mode, buffering=BUFFER_SIZE)
        else:
            self.file = open(fd, mode, buffering=BUFFER_SIZE, encoding=encoding, newline=newline)
        self.synced = False
        self.published = False

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def sync(self) -> None:
        """Flush and fsync the temporary file (it stays invisible)."""
        if self.synced:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.synced = True

    def publish(self) -> None:
        """Atomically replace the target with the (synced) temporary file."""
        if not self.synced:
            self.sync()
        try:
            os.replace(self.tmp_path, self.path)
            _fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        except OSError as exc:
            raise OutputError(f"cannot replace {self.path}: {exc.strerror or exc}") from exc
        self.published = True

    commit = publish

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if not self.published:
            try:
                os.unlink(self.tmp_path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, *exc_info) -> None:
        self.discard()


class AtomicGroup:
    """Several AtomicFiles prepared together and published one after the
    other only when :meth:`publish` is called; otherwise all are discarded."""

    def __init__(self) -> None:
        self.files: List[AtomicFile] = []

    def open(self, path: str, mode: str = "w", **kwargs) -> AtomicFile:
        atomic = AtomicFile(path, mode, **kwargs)
        self.files.append(atomic)
        return atomic

    def sync_all(self) -> None:
        """Flush and fsync every file (still invisible)."""
        for atomic in self.files:
            atomic.sync()

    def publish(self) -> None:
        self.sync_all()
        for atomic in self.files:
            atomic.publish()

    def __enter__(self) -> "AtomicGroup":
        return self

    def __exit__(self, *exc_info) -> None:
        for atomic in self.files:
            atomic.discard()


def ensure_dir(path: str) -> None:
    """Create ``path`` (and parents) if needed; OutputError when impossible."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create directory {path}: {exc.strerror or exc}") from exc


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str, text: str) -> None:
    with AtomicFile(path) as atomic:
        atomic.write(text)
        atomic.commit()


def write_json(path: str, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def copy_file(src: IO[bytes], atomic: AtomicFile) -> int:
    """Copy an open binary file into an AtomicFile; returns bytes copied."""
    total = 0
    while True:
        chunk = src.read(BUFFER_SIZE)
        if not chunk:
            return total
        atomic.write(chunk)
        total += len(chunk)


__all__ = ["AtomicFile", "AtomicGroup", "write_text", "write_json", "copy_file", "ensure_dir"]
