"""Make ``labs_common`` (apps/labs_common/labs_common) importable (pytest runs with --import-mode=importlib)."""

import sys
from pathlib import Path

SHARED_DIR = Path(__file__).resolve().parents[1]
if str(SHARED_DIR) not in sys.path:
    sys.path.insert(0, str(SHARED_DIR))
