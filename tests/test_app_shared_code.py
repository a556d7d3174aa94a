"""Code the apps' images share lives once (issue #16): in apps/labs_common or module_utils, staged into the
build context of each app whose SHARED file names it (roles/images, scripts/app_context.py).

Replaces the byte-identical copies and the test that kept them in step.
"""

import ast
import hashlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
SHARED_PACKAGE = APPS / "labs_common" / "labs_common"
SKIPPED = {"__pycache__", ".pytest_cache", ".hypothesis"}
_spec = importlib.util.spec_from_file_location("app_builds", ROOT / "roles" / "images" / "lookup_plugins" / "app_builds.py")
app_builds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(app_builds)

APP_NAMES = sorted(p.parent.name for p in APPS.glob("*/Dockerfile"))


def _python_files(folder):
    return [p for p in folder.rglob("*.py") if not SKIPPED & set(p.relative_to(folder).parts)]


def _app_code():
    """Every Python file an app's image is built from (its tests left out), app by app."""
    return {app: [p for p in _python_files(APPS / app) if "tests" not in p.relative_to(APPS / app).parts]
            for app in APP_NAMES}


def test_no_python_file_of_an_app_is_a_copy_of_another_or_of_the_shared_code():
    seen = {}
    shared = _python_files(SHARED_PACKAGE) + sorted((ROOT / "module_utils").glob("*.py"))
    for path in shared + [p for files in _app_code().values() for p in files]:
        content = path.read_bytes()
        if len(content.strip()) < 200:  # empty __init__.py and the like are no idea
            continue
        digest = hashlib.sha256(content).hexdigest()
        assert digest not in seen, f"{path.relative_to(ROOT)} is a copy of {seen[digest].relative_to(ROOT)}"
        seen[digest] = path


def _top_level_names(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


# What moved to labs_common: no app defines these again.
SHARED_IDEAS = {
    "throttle": {"FailureThrottle"},
    "waitress_app": {"listen_settings"},
    "json_api": {"add_basics"},
}


@pytest.mark.parametrize("module", sorted(SHARED_IDEAS))
def test_a_shared_idea_is_defined_in_labs_common_only(module):
    assert SHARED_IDEAS[module] <= _top_level_names(SHARED_PACKAGE / f"{module}.py")
    for app, files in _app_code().items():
        for path in files:
            again = SHARED_IDEAS[module] & _top_level_names(path)
            assert not again, f"{path.relative_to(ROOT)} defines {sorted(again)} again: use labs_common.{module}"


def test_no_app_starts_waitress_by_itself():
    for app, files in _app_code().items():
        for path in files:
            assert "waitress.create_server" not in path.read_text(encoding="utf-8"), (
                f"{path.relative_to(ROOT)} starts waitress itself: use labs_common.waitress_app")


def test_no_app_reads_x_file_secrets_by_itself():
    """One reader of *_FILE secrets (labs_common.secret_files): an app's code opens no file named by it."""
    for app, files in _app_code().items():
        for path in files:
            text = path.read_text(encoding="utf-8")
            assert 'f"{name}_FILE"' not in text and 'name + "_FILE"' not in text, (
                f"{path.relative_to(ROOT)} reads *_FILE secrets itself: use labs_common.secret_files")


def test_every_shared_module_is_used_by_an_app_and_every_shared_source_exists():
    used = set()
    for app in APP_NAMES:
        for item in app_builds.shared_files(str(APPS), app):  # raises on a missing source or a bad line
            used.add(Path(item["src"]).resolve())
    for module in _python_files(SHARED_PACKAGE):
        assert module.resolve() in used, f"{module.relative_to(ROOT)} is staged into no app (no SHARED names it)"
    assert (ROOT / "module_utils" / "labs_stats.py").resolve() in used


def test_an_app_importing_labs_common_gets_every_module_it_imports_staged():
    """What an app imports from labs_common is in its SHARED file, else its image would fail at start."""
    for app, files in _app_code().items():
        staged = {item["dest"] for item in app_builds.shared_files(str(APPS), app)}
        for path in files:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labs_common"):
                    wanted = node.module.replace(".", "/") + ".py"
                    assert wanted in staged, f"{path.relative_to(ROOT)} imports {node.module}, not in apps/{app}/SHARED"
                    assert "labs_common/__init__.py" in staged, f"apps/{app}/SHARED lacks labs_common/__init__.py"
                if isinstance(node, ast.ImportFrom) and node.module == "labs_stats":
                    assert "labs_stats.py" in staged, f"{path.relative_to(ROOT)}: labs_stats not in apps/{app}/SHARED"
