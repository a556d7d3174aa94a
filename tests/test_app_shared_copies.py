"""Files that two app images must carry identically until the apps share a package.

Each app is its own Docker build context (roles/images builds apps/<app>), so a
module two images need is copied into both; this test fails as soon as the
copies drift apart (see SECURITY.md, issue #16, "left open").
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
COPIES = [
    ("student_api/student_api/throttle.py", "registry_ui/registry_ui/throttle.py"),
    # The docker stats arithmetic: one file, used by the container_stats module and the exporter image.
    ("../module_utils/labs_stats.py", "container_exporter/container_exporter/labs_stats.py"),
]


@pytest.mark.parametrize("first, second", COPIES)
def test_copies_are_identical(first, second):
    assert (APPS / first).read_bytes() == (APPS / second).read_bytes(), (
        f"apps/{first} and apps/{second} differ: change both")
