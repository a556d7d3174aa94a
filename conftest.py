"""Stop the run at once, naming what is missing, when a collected test needs a system tool this machine
lacks (php, chromium, docker-registry, ...): the README's test command skips nothing silently.
The table is scripts/test_deps.py; `make test-deps` installs the packages, as .ci/run does."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("labs_test_deps", ROOT / "scripts" / "test_deps.py")
test_deps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(test_deps)


def pytest_collection_modifyitems(session, config, items):
    paths = set()
    for item in items:
        try:
            paths.add(Path(str(item.path)).resolve().relative_to(ROOT).as_posix())
        except ValueError:
            continue
    lacking = test_deps.missing(paths)
    if lacking:
        pytest.exit(test_deps.message(lacking), returncode=4)
