"""Make apps/api_frontend importable (pytest runs with --import-mode=importlib)."""

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1]
# (apps/conftest.py puts the shared code, apps/labs_common, on the path.)
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))
