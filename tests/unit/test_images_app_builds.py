"""roles/images/lookup_plugins/app_builds.py: an app's build identity."""

import hashlib
import importlib.util
import re
import shutil
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


# -- shared code (SHARED files): staged into the context, part of the build id of the apps that use it ----------

def _shared_project(tmp_path):
    """apps/ with a shared package, two apps using parts of it and one using none; module_utils beside it."""
    apps = tmp_path / "apps"
    for rel, content in {"labs_common/labs_common/a.py": "A = 1\n", "labs_common/labs_common/b.py": "B = 1\n",
                         "../module_utils/stats.py": "S = 1\n"}.items():
        (apps / rel).parent.mkdir(parents=True, exist_ok=True)
        (apps / rel).write_text(content)
    _app(apps, "web", {"VERSION": "1\n", "Dockerfile": "FROM x\n",
                       "SHARED": "# comment\n\nlabs_common/labs_common/a.py labs_common/a.py  # the a idea\n"})
    _app(apps, "api", {"VERSION": "1\n", "Dockerfile": "FROM x\n",
                       "SHARED": "labs_common/labs_common/a.py labs_common/a.py\n"
                                 "labs_common/labs_common/b.py labs_common/b.py\n../module_utils/stats.py stats.py\n"})
    _app(apps, "plain", {"VERSION": "1\n", "Dockerfile": "FROM x\n"})
    return apps


def _ids(apps, names=("web", "api", "plain")):
    return {name: ab.app_build(str(apps), name, ["sha256:a"], "labs", "", "")["build_id"] for name in names}


def test_the_context_is_the_apps_folder_plus_the_shared_files_it_names(tmp_path):
    apps = _shared_project(tmp_path)
    files = ab.context_files(str(apps), "api")
    assert sorted(files) == ["./Dockerfile", "./SHARED", "./VERSION", "./labs_common/a.py", "./labs_common/b.py",
                             "./stats.py"]
    assert files["./stats.py"] == str(tmp_path / "module_utils" / "stats.py")
    build = ab.app_build(str(apps), "web", [], "labs", "", "")
    assert build["shared"] == [{"src": str(apps / "labs_common" / "labs_common" / "a.py"), "dest": "labs_common/a.py"}]
    assert build["context_digest"] == ab.digest_files(ab.context_files(str(apps), "web")) != ab.context_digest(
        str(apps / "web"))
    assert ab.app_build(str(apps), "plain", [], "labs", "", "")["context_digest"] == ab.context_digest(
        str(apps / "plain"))


@pytest.mark.parametrize("changed, rebuilt", [
    ("labs_common/labs_common/a.py", {"web", "api"}),
    ("labs_common/labs_common/b.py", {"api"}),
    ("../module_utils/stats.py", {"api"}),
    ("labs_common/labs_common/unused.py", set()),
])
def test_a_change_to_shared_code_changes_the_build_id_of_exactly_the_apps_that_use_it(tmp_path, changed, rebuilt):
    apps = _shared_project(tmp_path)
    before = _ids(apps)
    (apps / changed).write_text("changed = True\n")
    after = _ids(apps)
    assert {name for name in before if before[name] != after[name]} == rebuilt


def test_the_revision_of_an_app_follows_commits_to_its_shared_files(tmp_path):
    apps = _shared_project(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "all"], check=True)
    first = subprocess.run(git[:3] + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (apps / "labs_common" / "labs_common" / "b.py").write_text("B = 2\n")
    subprocess.run(git + ["commit", "-qam", "b"], check=True)
    second = subprocess.run(git[:3] + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    shared = [item["src"] for item in ab.shared_files(str(apps), "api")]
    assert ab.git_revision(str(apps), "api", shared)[0] == second
    assert ab.git_revision(str(apps), "web", [item["src"] for item in ab.shared_files(str(apps), "web")])[0] == first


@pytest.mark.parametrize("line, message", [
    ("labs_common/labs_common/a.py", "expected '<source> <path in the context>'"),
    ("labs_common/labs_common/nope.py labs_common/nope.py", "no such file"),
    ("labs_common/labs_common/a.py ../a.py", "leaves the build context"),
    ("labs_common/labs_common/a.py /a.py", "leaves the build context"),
    ("labs_common/labs_common/a.py Dockerfile", "already a file of the app"),
])
def test_a_wrong_shared_line_is_refused_naming_app_and_line(tmp_path, line, message):
    apps = _shared_project(tmp_path)
    (apps / "web" / "SHARED").write_text("# first\n" + line + "\n")
    with pytest.raises(AnsibleLookupError, match=r"apps/web/SHARED line 2: .*" + re.escape(message)):
        ab.app_build(str(apps), "web", [], "labs", "", "")


# The project's own apps: which apps each shared file rebuilds.
PROJECT_USERS = {
    "labs_common/labs_common/__init__.py": {"api_backend", "api_frontend", "etl", "registry_ui", "secure_app",
                                            "student_api"},
    "labs_common/labs_common/json_api.py": {"api_backend", "api_frontend"},
    "labs_common/labs_common/waitress_app.py": {"api_backend", "api_frontend", "secure_app"},
    "labs_common/labs_common/secret_files.py": {"etl", "registry_ui", "secure_app", "student_api"},
    "labs_common/labs_common/throttle.py": {"registry_ui", "student_api"},
    "../module_utils/labs_stats.py": {"container_exporter"},
}


@pytest.mark.parametrize("changed", sorted(PROJECT_USERS))
def test_a_change_to_the_projects_shared_code_rebuilds_exactly_its_users(tmp_path, changed):
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".hypothesis")
    shutil.copytree(ROOT / "apps", tmp_path / "apps", ignore=ignore)
    shutil.copytree(ROOT / "module_utils", tmp_path / "module_utils", ignore=ignore)
    apps = tmp_path / "apps"
    names = sorted(p.parent.name for p in apps.glob("*/Dockerfile"))
    before = _ids(apps, names)
    with open(apps / changed, "a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    after = _ids(apps, names)
    assert {name for name in names if before[name] != after[name]} == PROJECT_USERS[changed]
