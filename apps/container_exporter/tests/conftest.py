"""Make ``container_exporter`` importable from the app's folder, and ``labs_stats`` from its one copy,
module_utils/labs_stats.py (staged into the image as /app/labs_stats.py by SHARED)."""

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1]
for _path in (APP_DIR.parents[1] / "module_utils", APP_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
