"""Every app's tests import the shared code (apps/labs_common, staged into the images that list it in their
SHARED file, roles/images) from its one copy, and so do the subprocesses they start (PYTHONPATH).
pytest runs with --import-mode=importlib: nothing is on sys.path by itself."""

import os
import sys
from pathlib import Path

SHARED_DIR = Path(__file__).resolve().parent / "labs_common"
if str(SHARED_DIR) not in sys.path:
    sys.path.insert(0, str(SHARED_DIR))
if str(SHARED_DIR) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SHARED_DIR), os.environ.get("PYTHONPATH")) if p)
