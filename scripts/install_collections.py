#!/usr/bin/env python3
"""Install the collections named in requirements.yml without Ansible Galaxy.

The `ansible` package on PyPI is a wheel that carries every collection of its release.
We download that wheel (pinned by sha256 in requirements-collections.txt, so pip refuses
anything else), extract only the collections requirements.yml names, and check that each
one is at the version requirements.yml asks for. Re-running with nothing changed does nothing.

Usage: install_collections.py [--requirements requirements.yml] [--dest collections]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def wanted_collections(requirements: Path) -> dict[str, str]:
    data = yaml.safe_load(requirements.read_text())
    return {c["name"]: str(c["version"]) for c in data["collections"]}


def stamp_of(requirements: Path, pins: Path) -> str:
    return hashlib.sha256(requirements.read_bytes() + pins.read_bytes()).hexdigest()


def download_wheel(pins: Path, workdir: Path) -> Path:
    print(f"collections: downloading the pinned ansible wheel ({pins.name})", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
         "--only-binary=:all:", "--ignore-requires-python", "--dest", str(workdir), "-r", str(pins)],
        check=True,
    )
    wheels = sorted(workdir.glob("ansible-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"collections: expected one ansible wheel, pip gave {wheels}")
    return wheels[0]


def extract(wheel: Path, wanted: dict[str, str], dest: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        for fqcn, version in wanted.items():
            namespace, name = fqcn.split(".")
            prefix = f"ansible_collections/{namespace}/{name}/"
            manifest = json.loads(zf.read(prefix + "MANIFEST.json"))
            found = manifest["collection_info"]["version"]
            if found != version:
                sys.exit(f"collections: {fqcn} is {found} in {wheel.name}, requirements.yml wants {version}")
            target = dest / "ansible_collections" / namespace / name
            shutil.rmtree(target, ignore_errors=True)
            members = [n for n in names if n.startswith(prefix)]
            zf.extractall(dest, members)
            print(f"collections: {fqcn} {version} ({len(members)} files)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.yml")
    parser.add_argument("--pins", type=Path, default=ROOT / "requirements-collections.txt")
    parser.add_argument("--dest", type=Path, default=ROOT / "collections")
    args = parser.parse_args()

    stamp_file = args.dest / ".installed"
    stamp = stamp_of(args.requirements, args.pins)
    if stamp_file.exists() and stamp_file.read_text().strip() == stamp:
        print("collections: up to date")
        return 0
    wanted = wanted_collections(args.requirements)
    args.dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        extract(download_wheel(args.pins, Path(tmp)), wanted, args.dest)
    stamp_file.write_text(stamp + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
