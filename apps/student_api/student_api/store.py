"""The JSON data file holding ``{name: age}``, shared by every gunicorn worker.

* Reads are served from an in-process cache that is re-parsed only when the
  file changed (inode, size, mtime, ctime) -- plus a "racy" guard: a file
  modified less than RACY_SECONDS before it was read is re-read until it is
  older, because two writes inside one timestamp tick could otherwise look
  identical to ``stat``.
* Writes are serialized across threads *and* processes with ``fcntl.flock``
  on a lock file next to the data file, re-read the current content under the
  lock, write a temporary file in the same directory, ``fsync`` it,
  ``rename`` it over the data file and ``fsync`` the directory.
* A missing or corrupt file is reported (StoreUnavailable), never replaced:
  the seed is written only into an empty directory.

The on-disk format is the labs' one: a flat JSON object, ages as strings
(``{"Ahmed": "20", ...}``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Optional, Tuple

log = logging.getLogger("student_api.store")

# The six students of the labs (000/001), seeded into an empty volume.
SEED_STUDENTS: Dict[str, str] = {
    "Ahmed": "20",
    "Amine": "20",
    "Hiba": "21",
    "Meryem": "23",
    "Omar": "20",
    "Sara": "23",
}

RACY_SECONDS = 1.0
# Entries that may sit in an otherwise "empty" volume.
_IGNORED_IN_EMPTY_DIR = ("lost+found",)


class NameConflict(Exception):
    """A different spelling of the name already exists (same identity key)."""

    def __init__(self, existing: str):
        super().__init__(existing)
        self.existing = existing


class StoreUnavailable(Exception):
    """The data file is missing, unreadable or corrupt."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "missing" | "corrupt" | "unreadable" | "unwritable"
        self.message = message


@dataclass
class _Cache:
    key: Tuple[int, ...]
    data: Dict[str, str]
    trusted: bool


def _stat_key(st: os.stat_result) -> Tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def parse_students(raw: bytes, path: str = "data file") -> Dict[str, str]:
    """Parse and check the file content; raise StoreUnavailable('corrupt')."""
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StoreUnavailable("corrupt", f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise StoreUnavailable(
            "corrupt", f"{path} must hold a JSON object {{name: age}}, found {type(doc).__name__}"
        )
    students: Dict[str, str] = {}
    for name, age in doc.items():
        if isinstance(age, bool) or not isinstance(age, (str, int)):
            raise StoreUnavailable(
                "corrupt", f"{path}: age of {name!r} must be a string or an integer"
            )
        students[name] = str(age)
    return students


class StudentStore:
    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.directory = os.path.dirname(self.path)
        base = os.path.basename(self.path)
        self.lock_path = os.path.join(self.directory, f".{base}.lock")
        self._tmp_prefix = f".{base}."
        self._cache: Optional[_Cache] = None
        self._reload_lock = threading.Lock()
        self._warned_in_place = False

    # ------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _flock(self, exclusive: bool) -> Iterator[None]:
        """flock on the lock file; each call opens its own file description,
        so threads of one process exclude each other as processes do."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exclusive:
                raise StoreUnavailable(
                    "unwritable", f"cannot create lock file {self.lock_path}: {exc.strerror}"
                ) from exc
            # Read-only data directory: nobody can write, reading needs no lock.
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # ------------------------------------------------------------ reading
    def _read_file(self) -> Tuple[Dict[str, str], os.stat_result]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise StoreUnavailable("missing", f"data file {self.path} does not exist") from exc
        except OSError as exc:
            raise StoreUnavailable(
                "unreadable", f"data file {self.path} cannot be opened: {exc.strerror}"
            ) from exc
        try:
            st = os.fstat(fd)
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise StoreUnavailable(
                "unreadable", f"data file {self.path} cannot be read: {exc.strerror}"
            ) from exc
        finally:
            os.close(fd)
        return parse_students(b"".join(chunks), self.path), st

    def read(self) -> Dict[str, str]:
        """Current students (a dict that callers must not mutate)."""
        try:
            key = _stat_key(os.stat(self.path))
        except FileNotFoundError as exc:
            self._cache = None
            raise StoreUnavailable("missing", f"data file {self.path} does not exist") from exc
        except OSError as exc:
            raise StoreUnavailable(
                "unreadable", f"data file {self.path} cannot be read: {exc.strerror}"
            ) from exc
        cache = self._cache
        if cache is not None and cache.trusted and cache.key == key:
            return cache.data
        with self._reload_lock:
            cache = self._cache
            if cache is not None and cache.trusted and cache.key == key:
                return cache.data
            with self._flock(exclusive=False):
                data, st = self._read_file()
            self._remember(data, st)
            return data

    def _remember(self, data: Dict[str, str], st: os.stat_result) -> None:
        trusted = (time.time_ns() - st.st_mtime_ns) > RACY_SECONDS * 1e9
        self._cache = _Cache(key=_stat_key(st), data=data, trusted=trusted)

    def check(self) -> Tuple[bool, str, int]:
        """(healthy, message, number of students) for /healthz and metrics."""
        try:
            data = self.read()
        except StoreUnavailable as exc:
            return False, exc.message, 0
        return True, "ok", len(data)

    # ------------------------------------------------------------ writing
    def _write_atomic(self, data: Dict[str, str]) -> None:
        payload = (json.dumps(data, indent=4, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            mode = os.stat(self.path).st_mode & 0o777
        except OSError:
            mode = 0o644
        tmp = os.path.join(
            self.directory,
            f"{self._tmp_prefix}{os.getpid()}.{threading.get_ident()}.tmp",
        )
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        except OSError as exc:
            raise StoreUnavailable(
                "unwritable", f"cannot write to {self.directory}: {exc.strerror}"
            ) from exc
        try:
            try:
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.replace(tmp, self.path)
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.EXDEV):
                    raise
                # The data file itself is a bind mount: it cannot be renamed
                # over. Rewrite it in place (still under the exclusive lock,
                # readers take the shared lock).
                self._write_in_place(payload)
                return
            self._fsync_directory()
        except OSError as exc:
            raise StoreUnavailable(
                "unwritable", f"cannot write {self.path}: {exc.strerror or exc}"
            ) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _write_in_place(self, payload: bytes) -> None:
        if not self._warned_in_place:
            log.warning(
                "%s is a bind-mounted file: writing in place (not atomic); "
                "mount its directory instead",
                self.path,
            )
            self._warned_in_place = True
        fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, 0)
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def _fsync_directory(self) -> None:
        try:
            dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:  # some file systems refuse fsync on directories
            pass
        finally:
            os.close(dfd)

    def mutate(self, change: Callable[[Dict[str, str]], Tuple[object, Optional[Dict[str, str]]]]):
        """Run ``change(current) -> (result, new_data_or_None)`` under the
        exclusive lock on fresh data; write new_data atomically if given."""
        with self._flock(exclusive=True):
            data, _ = self._read_file()  # always fresh: never trust the cache here
            result, new = change(dict(data))
            if new is not None:
                self._write_atomic(new)
                try:
                    st = os.stat(self.path)
                except OSError:
                    self._cache = None
                else:
                    self._remember(dict(new), st)
            return result

    def upsert(
        self,
        name: str,
        age: int,
        create_only: bool = False,
        identity: Optional[Callable[[str], str]] = None,
    ) -> Optional[bool]:
        """Set ``name``'s age. Returns True if created, False if updated, None
        if create_only and the student already exists (nothing written).
        With ``identity``, creating a name whose identity key is that of
        another stored name raises NameConflict (checked under the lock)."""

        def change(data):
            exists = name in data
            if exists and create_only:
                return None, None
            if not exists and identity is not None:
                key = identity(name)
                for other in data:
                    if identity(other) == key:
                        raise NameConflict(other)
            data[name] = str(age)
            return (not exists), data

        return self.mutate(change)

    def delete(self, name: str) -> bool:
        def change(data):
            if name not in data:
                return False, None
            del data[name]
            return True, data

        return self.mutate(change)

    # ------------------------------------------------------------ start-up
    def directory_is_empty(self) -> bool:
        try:
            entries = os.listdir(self.directory)
        except FileNotFoundError:
            return True
        except OSError:  # unreadable directory: never seed blindly
            return False
        ignored = set(_IGNORED_IN_EMPTY_DIR) | {os.path.basename(self.lock_path)}
        return all(entry in ignored for entry in entries)

    def seed_if_empty(self, seed: Optional[Dict[str, str]] = None) -> bool:
        """Write the seed only when the data directory holds nothing (a fresh
        volume). Returns True if it seeded. Never touches an existing file."""
        if not self.directory_is_empty():
            return False
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                "unwritable", f"cannot create data directory {self.directory}: {exc.strerror}"
            ) from exc
        with self._flock(exclusive=True):
            if not self.directory_is_empty():  # somebody else was quicker
                return False
            self._write_atomic(dict(SEED_STUDENTS if seed is None else seed))
        return True

    def remove_stale_temp_files(self) -> int:
        """Remove temp files left by a writer that died mid-write. Only safe
        before any worker starts (called by the launcher)."""
        removed = 0
        try:
            entries = os.listdir(self.directory)
        except OSError:
            return 0
        for entry in entries:
            if entry.startswith(self._tmp_prefix) and entry.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.directory, entry))
                    removed += 1
        return removed
