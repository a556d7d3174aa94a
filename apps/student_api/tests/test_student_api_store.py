"""The data file store: seeding, caching, atomic and serialized writes."""

import errno
import json
import multiprocessing
import os
import threading

import pytest

from student_api import store as store_module
from student_api.store import SEED_STUDENTS, StoreUnavailable, StudentStore


def make_old(path, seconds=3600):
    """Age the file's mtime so the cache trusts it (past the racy window)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_seed_into_missing_directory(tmp_path):
    path = tmp_path / "new" / "student_age.json"
    store = StudentStore(str(path))
    assert store.seed_if_empty() is True
    assert json.loads(path.read_text()) == SEED_STUDENTS
    assert store.read() == SEED_STUDENTS
    assert len(SEED_STUDENTS) == 6


def test_seed_ignores_lost_and_found_and_lock(tmp_path):
    (tmp_path / "lost+found").mkdir()
    store = StudentStore(str(tmp_path / "student_age.json"))
    open(store.lock_path, "w").close()
    assert store.seed_if_empty() is True


def test_no_seed_over_existing_file(tmp_path):
    path = tmp_path / "student_age.json"
    path.write_text('{"Only": "1"}')
    store = StudentStore(str(path))
    assert store.seed_if_empty() is False
    assert store.read() == {"Only": "1"}


def test_no_seed_over_corrupt_file(tmp_path):
    path = tmp_path / "student_age.json"
    path.write_bytes(b"\x00garbage{")
    store = StudentStore(str(path))
    assert store.seed_if_empty() is False
    assert path.read_bytes() == b"\x00garbage{"
    with pytest.raises(StoreUnavailable) as info:
        store.read()
    assert info.value.kind == "corrupt"


def test_no_seed_when_directory_has_other_files(tmp_path):
    """A volume that is not empty but lost its data file stays as it is:
    that is reported (missing), not silently reset to the lab students."""
    (tmp_path / "something-else.txt").write_text("x")
    store = StudentStore(str(tmp_path / "student_age.json"))
    assert store.seed_if_empty() is False
    with pytest.raises(StoreUnavailable) as info:
        store.read()
    assert info.value.kind == "missing"
    assert store.check() == (False, info.value.message, 0)


def test_lab_file_with_integer_ages_is_accepted(tmp_path):
    path = tmp_path / "student_age.json"
    path.write_text('{"Alice": 12, "Bob": "13"}')
    assert StudentStore(str(path)).read() == {"Alice": "12", "Bob": "13"}


@pytest.mark.parametrize(
    "content", [b"", b"[]", b'"x"', b'{"a": null}', b'{"a": true}', b'{"a": [1]}', b"{"]
)
def test_corrupt_contents(tmp_path, content):
    path = tmp_path / "student_age.json"
    path.write_bytes(content)
    store = StudentStore(str(path))
    with pytest.raises(StoreUnavailable) as info:
        store.read()
    assert info.value.kind == "corrupt"
    with pytest.raises(StoreUnavailable):
        store.upsert("New", 20)
    assert path.read_bytes() == content


def test_unchanged_file_is_not_reparsed(tmp_path, monkeypatch):
    path = tmp_path / "student_age.json"
    store = StudentStore(str(path))
    store.seed_if_empty()
    make_old(path)
    calls = []
    real_parse = store_module.parse_students

    def counting(raw, name="data file"):
        calls.append(1)
        return real_parse(raw, name)

    monkeypatch.setattr(store_module, "parse_students", counting)
    for _ in range(50):
        assert store.read()["Hiba"] == "21"
    assert len(calls) == 1
    # An outside change (new mtime) is noticed on the next read.
    data = json.loads(path.read_text())
    data["Hiba"] = "22"
    path.write_text(json.dumps(data))
    assert store.read()["Hiba"] == "22"
    assert len(calls) == 2


def test_racy_same_size_rewrite_is_noticed(tmp_path):
    """Two writes in one timestamp tick with the same size and inode look
    identical to stat; a freshly modified file must not be trusted."""
    path = tmp_path / "student_age.json"
    path.write_text('{"A": "10"}')
    store = StudentStore(str(path))
    assert store.read() == {"A": "10"}
    st = os.stat(path)
    with open(path, "r+") as handle:  # same inode, same size
        handle.write('{"A": "11"}')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime too
    assert store.read() == {"A": "11"}


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "student_age.json"
    store = StudentStore(str(path))
    store.seed_if_empty()
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError(errno.EIO, "simulated crash before rename")

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(StoreUnavailable):
        store.upsert("Lost", 30)
    monkeypatch.undo()
    assert path.read_bytes() == before  # old content intact
    assert sorted(os.listdir(tmp_path)) == [".student_age.json.lock", "student_age.json"]
    assert store.upsert("Kept", 31) is True
    assert json.loads(path.read_text())["Kept"] == "31"
    assert sorted(os.listdir(tmp_path)) == [".student_age.json.lock", "student_age.json"]


def test_bind_mounted_file_falls_back_to_in_place(tmp_path, monkeypatch, caplog):
    path = tmp_path / "student_age.json"
    store = StudentStore(str(path))
    store.seed_if_empty()

    def busy(src, dst):
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(store_module.os, "replace", busy)
    with caplog.at_level("WARNING"):
        assert store.upsert("Bound", 44) is True
    assert json.loads(path.read_text())["Bound"] == "44"
    assert any("bind-mounted" in r.getMessage() for r in caplog.records)
    assert [e for e in os.listdir(tmp_path) if e.endswith(".tmp")] == []


def test_stale_temp_files_are_removed(tmp_path):
    store = StudentStore(str(tmp_path / "student_age.json"))
    store.seed_if_empty()
    (tmp_path / ".student_age.json.123.456.tmp").write_text("{half")
    (tmp_path / "keep.me").write_text("x")
    assert store.remove_stale_temp_files() == 1
    assert sorted(os.listdir(tmp_path)) == [".student_age.json.lock", "keep.me", "student_age.json"]


def test_upsert_create_only_and_delete(tmp_path):
    store = StudentStore(str(tmp_path / "student_age.json"))
    store.seed_if_empty()
    assert store.upsert("Ahmed", 99, create_only=True) is None
    assert store.read()["Ahmed"] == "20"
    assert store.upsert("Ahmed", 21) is False
    assert store.read()["Ahmed"] == "21"
    assert store.delete("Ahmed") is True
    assert store.delete("Ahmed") is False
    assert "Ahmed" not in store.read()


def test_threads_writing_concurrently_lose_nothing(tmp_path):
    path = tmp_path / "student_age.json"
    StudentStore(str(path)).seed_if_empty()
    errors = []

    def writer(i):
        try:
            StudentStore(str(path)).upsert(f"thread-{i}", 1 + i % 150)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    data = json.loads(path.read_text())
    assert len(data) == 6 + 200
    assert all(data[f"thread-{i}"] == str(1 + i % 150) for i in range(200))


def _process_writer(path, start, count):
    store = StudentStore(path)
    for i in range(start, start + count):
        store.upsert(f"proc-{i}", 1 + i % 150)


def test_processes_writing_concurrently_lose_nothing(tmp_path):
    path = str(tmp_path / "student_age.json")
    StudentStore(path).seed_if_empty()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_process_writer, args=(path, k * 50, 50)) for k in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    data = StudentStore(path).read()
    assert len(data) == 6 + 200
    assert all(data[f"proc-{i}"] == str(1 + i % 150) for i in range(200))
