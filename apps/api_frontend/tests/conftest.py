"""Make apps/api_frontend importable (pytest runs with --import-mode=importlib)."""

import os
import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1]
# The shared code the image gets staged into it (SHARED), imported from its one copy; subprocesses too.
SHARED_DIR = APP_DIR.parent / "labs_common"
for _path in (SHARED_DIR, APP_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
if str(SHARED_DIR) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SHARED_DIR), os.environ.get("PYTHONPATH")) if p)
