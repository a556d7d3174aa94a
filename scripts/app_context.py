#!/usr/bin/env python3
"""Write an app's Docker build context as a tar on stdout: its folder apps/<app> plus the shared files its
SHARED file names (apps/labs_common, module_utils/labs_stats.py), exactly what roles/images stages and
hashes into the build id (the file list comes from the role's own lookup, roles/images/lookup_plugins).

    .venv/bin/python scripts/app_context.py api_backend | docker build -t labs/api_backend:dev -
    .venv/bin/python scripts/app_context.py --list student_api      # the context's files and where each comes from

The tar is reproducible: entries sorted, owner root, mtime 0, mode 0644 (0755 for executables and
folders), caches (__pycache__, .pytest_cache, .hypothesis) left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"


def _lookup():
    try:
        import ansible  # noqa: F401  (the lookup plugin imports Ansible's base classes)
    except ModuleNotFoundError:
        sys.exit("scripts/app_context.py needs Ansible: run it with the project's venv, .venv/bin/python "
                 "(make bootstrap creates it)")
    spec = importlib.util.spec_from_file_location(
        "images_app_builds", ROOT / "roles" / "images" / "lookup_plugins" / "app_builds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def context_files(app, apps_dir=APPS):
    """{'./<path in the context>': Path of the source}, as the images role stages it."""
    return {rel: Path(src) for rel, src in _lookup().context_files(str(apps_dir), app).items()}


def _tar_module():
    spec = importlib.util.spec_from_file_location(
        "images_tar", ROOT / "roles" / "images" / "module_utils" / "images_tar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tar(files, fileobj):
    """The reproducible tar roles/images ships to remote builders (roles/images/module_utils/images_tar.py)."""
    _tar_module().write_tar(files, fileobj)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="folder name under apps/")
    parser.add_argument("--list", action="store_true", help="list the context's files instead of writing a tar")
    args = parser.parse_args(argv)
    if not (APPS / args.app / "Dockerfile").is_file():
        parser.error(f"no app {args.app!r}: apps/{args.app}/Dockerfile does not exist")
    files = context_files(args.app)
    if args.list:
        for rel in sorted(files, key=lambda p: p.encode()):
            print(f"{rel[2:]}\t{files[rel].resolve().relative_to(ROOT)}")
        return 0
    write_tar(files, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
