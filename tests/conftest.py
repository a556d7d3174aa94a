"""Shared helpers of tests/ (ansible_json) importable by name: pytest.ini uses --import-mode=importlib."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
