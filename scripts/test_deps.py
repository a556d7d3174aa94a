#!/usr/bin/env python3
"""What the tests need from the system, declared once: the root conftest.py stops a pytest run at once,
naming what is missing (and the apt packages that bring it), when a collected test needs it; `make
test-deps` installs the packages (as .ci/run does); `python scripts/test_deps.py` checks everything.

Each entry: (what, how it is found, apt package, the test paths that need it).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import sys

WEBSITE = "apps/website/tests/test_website_page.py"
BROWSER = "tests/browser/"
REGISTRY = ("apps/registry/tests/", "apps/registry_ui/tests/test_registry_ui_real_registry.py")
POSTGRES = ("apps/postgres/tests/", "apps/etl/tests/")

NEEDS = [
    ("php", lambda: shutil.which("php"), "php-cli", (WEBSITE, BROWSER)),
    ("chromium", lambda: os.path.exists("/usr/bin/chromium"), "chromium", (BROWSER,)),
    ("chromedriver", lambda: os.path.exists("/usr/bin/chromedriver"), "chromium-driver", (BROWSER,)),
    ("selenium (Python)", lambda: importlib.util.find_spec("selenium"), "requirements-test.txt", (BROWSER,)),
    ("docker-registry", lambda: shutil.which("docker-registry"), "docker-registry", REGISTRY),
    ("htpasswd", lambda: shutil.which("htpasswd"), "apache2-utils", REGISTRY[1:]),
    ("promtool and prometheus", lambda: shutil.which("promtool") and shutil.which("prometheus"), "prometheus",
     ("apps/prometheus/tests/",)),
    ("PostgreSQL server (initdb)", lambda: glob.glob(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/*/bin")
                                                     + "/initdb"), "postgresql", POSTGRES),
]

# What `make test-deps` and .ci/run install (the packages above plus what the other steps use).
APT_PACKAGES = sorted({apt for _, _, apt, _ in NEEDS if not apt.endswith(".txt")}
                      | {"python3-venv", "python3-pip", "git", "make", "debootstrap", "busybox-static"})


def missing(paths=None):
    """[(what, apt package, [paths that need it])] for the needs of ``paths`` (relative to the repository;
    None: every need) that this machine lacks."""
    found = []
    for what, present, apt, users in NEEDS:
        needed_by = sorted({u for u in users for p in paths if p.startswith(u)}) if paths is not None else list(users)
        if needed_by and not present():
            found.append((what, apt, needed_by))
    return found


def message(lacking):
    apt = sorted({a for _, a, _ in lacking if not a.endswith(".txt")})
    lines = ["missing what the tests need (nothing was skipped: install it, then run again):"]
    lines += ["  %s (%s), needed by %s" % (what, apt_name, ", ".join(users)) for what, apt_name, users in lacking]
    if apt:
        lines.append("  install: make test-deps   (apt-get install -y --no-install-recommends %s)" % " ".join(apt))
    return "\n".join(lines)


def main(argv):
    if argv[1:] == ["--apt-packages"]:
        print(" ".join(APT_PACKAGES))
        return 0
    lacking = missing()
    if lacking:
        print(message(lacking), file=sys.stderr)
        return 1
    print("test dependencies: all present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
