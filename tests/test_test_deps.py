"""The README's test command skips nothing silently: a collected test that needs a missing system tool stops
the run at once, naming the tool, its apt package and the tests that need it (root conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_php_stops_pytest_at_once_and_names_it(tmp_path):
    # PATH without /usr/bin: php is not found, as on a fresh machine (the venv's python runs pytest).
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                          "apps/website/tests/test_website_page.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 4, out[-2000:]
    assert "php (php-cli), needed by apps/website/tests/test_website_page.py" in out
    assert "install: make test-deps" in out
    assert "no tests ran" in out


def test_the_apt_list_is_the_one_ci_installs():
    spec = __import__("importlib.util").util.spec_from_file_location("labs_test_deps", ROOT / "scripts" / "test_deps.py")
    deps = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(deps)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test-deps" in ci
    assert {"php-cli", "chromium", "chromium-driver", "apache2-utils", "docker-registry", "postgresql",
            "prometheus"} <= set(deps.APT_PACKAGES)
