"""Helpers for the Prometheus image tests: render the templates with the real
entrypoint script on the host; find promtool / prometheus (Debian package
``prometheus``; CI installs it) or skip with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
ENTRYPOINT = APP_DIR / "prometheus-entrypoint.sh"


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
    if path is None:
        pytest.skip("promtool not found (apt-get install -y prometheus)")
    return path


@pytest.fixture
def render(tmp_path):
    """render(**env) -> (CompletedProcess, render_dir); targets dir = the
    repository's examples, so promtool also validates the file_sd files."""

    def _render(command: str = "render", **env: str):
        out = tmp_path / "rendered"
        full: Dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PROM_TEMPLATE_DIR": str(APP_DIR / "templates"),
            "PROM_RENDER_DIR": str(out),
            "PROM_TARGETS_DIR": str(APP_DIR / "examples" / "targets"),
            "PROM_RULES_EXTRA_DIR": str(tmp_path / "rules.d"),
        }
        full.update(env)
        proc = subprocess.run([str(ENTRYPOINT), command], env=full, capture_output=True, text=True, timeout=60)
        return proc, out

    return _render
