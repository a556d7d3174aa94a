"""roles/images/library/images_context.py: the staged build context is exactly the files asked for."""

import importlib.util
import os
import tarfile
from pathlib import Path

import pytest
from ansible.module_utils.images_tar import tar_bytes
from fakes import run_module

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("images_context", ROOT / "roles" / "images" / "library" / "images_context.py")
ic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ic)


def _sources(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "Dockerfile").write_text("FROM x\n")
    (src / "pkg" / "a.py").write_text("A = 1\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o700)
    return {"./Dockerfile": str(src / "Dockerfile"), "./labs_common/a.py": str(src / "pkg" / "a.py"),
            "./run.sh": str(src / "run.sh")}


def _run(dest, files):
    wanted, write, remove = ic.plan(str(dest), files)
    ic.stage(str(dest), wanted, write, remove)
    return write, remove


def _tree(dest):
    return {str(p.relative_to(dest)): (p.read_text(), p.stat().st_mode & 0o777)
            for p in sorted(dest.rglob("*")) if p.is_file()}


def test_stages_exactly_the_files_then_changes_nothing(tmp_path):
    files, dest = _sources(tmp_path), tmp_path / "ctx"
    dest.mkdir()
    write, remove = _run(dest, files)
    assert write == ["Dockerfile", "labs_common/a.py", "run.sh"] and remove == []
    assert _tree(dest) == {"Dockerfile": ("FROM x\n", 0o644), "labs_common/a.py": ("A = 1\n", 0o644),
                           "run.sh": ("#!/bin/sh\n", 0o755)}
    assert ic.plan(str(dest), files)[1:] == ([], [])


def test_a_changed_source_is_rewritten_and_a_dropped_file_removed_with_its_folder(tmp_path):
    files, dest = _sources(tmp_path), tmp_path / "ctx"
    dest.mkdir()
    _run(dest, files)
    Path(files["./Dockerfile"]).write_text("FROM y\n")
    (dest / "stale.txt").write_text("left by an older build")
    del files["./labs_common/a.py"]
    write, remove = _run(dest, files)
    assert write == ["Dockerfile"] and remove == ["labs_common/a.py", "stale.txt"]
    assert sorted(os.listdir(dest)) == ["Dockerfile", "run.sh"]
    assert (dest / "Dockerfile").read_text() == "FROM y\n"


@pytest.mark.parametrize("rel", ["../out.py", "/etc/out.py"])
def test_a_path_leaving_the_context_is_refused(tmp_path, rel):
    with pytest.raises(ValueError, match="leaves the build context"):
        ic.plan(str(tmp_path / "ctx"), {rel: str(tmp_path)})


def test_the_archive_is_the_reproducible_tar_of_the_context_and_rewritten_only_when_it_changes(tmp_path):
    files, dest, archive = _sources(tmp_path), tmp_path / "ctx", tmp_path / "out" / "ctx.tar"
    args = {"dest": str(dest), "files": files, "archive": str(archive)}
    assert run_module(ic, args, check_mode=True)["archive_changed"] and not archive.exists()
    first = run_module(ic, args)
    assert first["changed"] and first["archive_changed"] and first["written"] == [] and first["removed"] == []
    assert not dest.exists(), "with archive only the tar is written, no folder is staged"
    # The very bytes scripts/app_context.py writes (it uses images_tar too) for the same files.
    assert archive.read_bytes() == tar_bytes(files)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["Dockerfile", "labs_common", "labs_common/a.py", "run.sh"]
        assert members["run.sh"].mode == 0o755 and members["Dockerfile"].mode == 0o644
        assert {m.mtime for m in members.values()} == {0} and {m.uid for m in members.values()} == {0}
        assert tar.extractfile("labs_common/a.py").read() == b"A = 1\n"
    mtime = archive.stat().st_mtime_ns
    again = run_module(ic, args)
    assert not again["changed"] and not again["archive_changed"] and archive.stat().st_mtime_ns == mtime
    assert not run_module(ic, args, check_mode=True)["changed"]
    Path(files["./labs_common/a.py"]).write_text("A = 2\n")
    assert run_module(ic, args, check_mode=True)["changed"] and archive.stat().st_mtime_ns == mtime
    changed = run_module(ic, args)
    assert changed["changed"] and changed["archive_changed"] and not dest.exists()
    with tarfile.open(archive) as tar:
        assert tar.extractfile("labs_common/a.py").read() == b"A = 2\n"
    assert not run_module(ic, args)["changed"]


def test_the_archive_holds_what_the_folder_would(tmp_path):
    """Same inputs, both ways: the tar unpacks to exactly the tree a folder build stages (content and mode)."""
    files = _sources(tmp_path)
    run_module(ic, {"dest": str(tmp_path / "folder"), "files": files})
    run_module(ic, {"dest": str(tmp_path / "unused"), "files": files, "archive": str(tmp_path / "ctx.tar")})
    # Read in place (extractall's filter= is missing from Debian 12's Python 3.11.2).
    with tarfile.open(tmp_path / "ctx.tar") as tar:
        unpacked = {m.name: (tar.extractfile(m).read().decode(), m.mode) for m in tar.getmembers() if m.isfile()}
    assert unpacked == _tree(tmp_path / "folder") != {}


def test_with_archive_a_folder_staged_by_an_earlier_run_is_removed_once(tmp_path):
    files, dest, archive = _sources(tmp_path), tmp_path / "ctx", tmp_path / "ctx.tar"
    run_module(ic, {"dest": str(dest), "files": files})  # the host built locally then
    args = {"dest": str(dest), "files": files, "archive": str(archive)}
    check = run_module(ic, args, check_mode=True)
    assert check["changed"] and check["removed"] == ["Dockerfile", "labs_common/a.py", "run.sh"]
    assert dest.is_dir() and not archive.exists()
    first = run_module(ic, args)
    assert first["changed"] and first["removed"] == ["Dockerfile", "labs_common/a.py", "run.sh"]
    assert not dest.exists() and archive.read_bytes() == tar_bytes(files)
    archive.write_bytes(tar_bytes(files))
    (tmp_path / "ctx").mkdir()  # an empty folder left behind still goes, and is a change
    assert run_module(ic, args)["changed"] and not dest.exists()
    second = run_module(ic, args)
    assert not second["changed"] and second["removed"] == []


def test_with_archive_a_symlink_at_dest_is_left_alone(tmp_path):
    files, target = _sources(tmp_path), tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("not ours")
    (tmp_path / "ctx").symlink_to(target)
    result = run_module(ic, {"dest": str(tmp_path / "ctx"), "files": files, "archive": str(tmp_path / "ctx.tar")})
    assert result["removed"] == [] and (target / "keep.txt").read_text() == "not ours"


def test_an_archive_inside_dest_is_refused(tmp_path):
    dest = tmp_path / "ctx"
    result = run_module(ic, {"dest": str(dest), "files": _sources(tmp_path), "archive": str(dest / "ctx.tar")})
    assert result["failed"] and "inside" in result["msg"] and not dest.exists()
