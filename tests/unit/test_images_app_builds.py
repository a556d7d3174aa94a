"""roles/images/lookup_plugins/app_builds.py: an app's build identity."""

import hashlib
import importlib.util
import subprocess
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("app_builds", ROOT / "roles" / "images" / "lookup_plugins" / "app_builds.py")
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)


def _app(tmp_path, name="web", files=None):
    folder = tmp_path / name
    for rel, content in (files or {"VERSION": "1.2.0\n", "Dockerfile": "FROM x\n", "src/app.py": "print(1)\n"}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content)
    return folder


def test_context_digest_is_what_find_sort_sha256sum_prints(tmp_path):
    folder = _app(tmp_path, files={"VERSION": "1\n", "Dockerfile": "FROM x\n", "a/B.py": "b", "a/a.py": "a",
                                   "__pycache__/x.pyc": "cache", "a/.hypothesis/db": "cache"})
    shell = subprocess.run(
        'find . -type f ! -path "*/__pycache__/*" ! -path "*/.pytest_cache/*" ! -path "*/.hypothesis/*" -print0'
        " | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum", shell=True, cwd=folder, capture_output=True,
        text=True, check=True).stdout.split()[0]
    assert ab.context_digest(str(folder)) == shell


def test_any_change_of_content_or_name_changes_the_digest(tmp_path):
    folder = _app(tmp_path)
    before = ab.context_digest(str(folder))
    (folder / "src" / "app.py").write_text("print(2)\n")
    changed = ab.context_digest(str(folder))
    (folder / "src" / "app.py").rename(folder / "src" / "main.py")
    assert len({before, changed, ab.context_digest(str(folder))}) == 3
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    assert ab.context_digest(str(folder)) == ab.context_digest(str(folder))


def test_build_id_depends_on_every_input(tmp_path):
    _app(tmp_path)
    base = ab.app_build(str(tmp_path), "web", ["sha256:b", "sha256:a"], "labs", "127.0.0.1:5001", "https://x")
    assert base["version"] == "1.2.0" and base["hub_url"] == "127.0.0.1:5001/labs/web"
    assert base["name"] == "labs/web:1.2.0"
    assert base["tags"] == ["labs/web:latest", "127.0.0.1:5001/labs/web:1.2.0", "127.0.0.1:5001/labs/web:latest"]
    assert base["pushes"] == ["127.0.0.1:5001/labs/web:1.2.0", "127.0.0.1:5001/labs/web:latest"]
    assert base["revision"] == "unknown" and base["created"] == "unknown"  # not a git checkout
    same_bases_other_order = ab.app_build(str(tmp_path), "web", ["sha256:a", "sha256:b"], "labs", "127.0.0.1:5001", "https://x")
    assert same_bases_other_order["build_id"] == base["build_id"]
    others = [
        ab.app_build(str(tmp_path), "web", ["sha256:c"], "labs", "127.0.0.1:5001", "https://x"),
        ab.app_build(str(tmp_path), "web", ["sha256:a", "sha256:b"], "labs", "", "https://x"),
        ab.app_build(str(tmp_path), "web", ["sha256:a", "sha256:b"], "labs", "127.0.0.1:5001", "https://y"),
    ]
    assert len({base["build_id"]} | {o["build_id"] for o in others}) == 4
    local = others[1]
    assert local["hub_url"] == "labs/web" and local["tags"] == ["labs/web:latest"] and local["pushes"] == []
    expected = hashlib.sha256("|".join([base["context_digest"], "sha256:a,sha256:b", "127.0.0.1:5001/labs/web",
                                        "1.2.0", "unknown", "unknown", "https://x"]).encode()).hexdigest()
    assert base["build_id"] == expected


def test_git_revision_of_the_last_commit_touching_the_app(tmp_path):
    _app(tmp_path)
    _app(tmp_path, "other")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "web"], check=True)
    subprocess.run(git + ["commit", "-qm", "web"], check=True)
    web_commit = subprocess.run(git[:3] + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    subprocess.run(git + ["add", "other"], check=True)
    subprocess.run(git + ["commit", "-qm", "other"], check=True)
    revision, created = ab.git_revision(str(tmp_path), "web")
    assert revision == web_commit and created[:4].isdigit()


def test_an_app_without_version_is_refused_by_name(tmp_path):
    _app(tmp_path, files={"Dockerfile": "FROM x\n"})
    with pytest.raises(AnsibleLookupError, match="app web has no readable VERSION"):
        ab.app_build(str(tmp_path), "web", [], "labs", "", "")
