#!/usr/bin/env python3
"""Image sizes: labs/<app>:latest for every apps/*/Dockerfile, plus the two base images, in MB.

Reads the sizes from this machine's Docker engine (Docker SDK, the project's labs_docker client): the images
must have been built (make up, or ansible-playbook playbooks/base_images.yml playbooks/images.yml). MB are
1e6 bytes, as `docker images` shows them. One reading per image: an image's size is a property of the image,
the same at every reading, so there is nothing to take a median of.
Target (issue: images): student API image <= 150 MB. Anchor: the labs built it FROM python:3.8-buster, about 900 MB.
"""

from __future__ import annotations

import argparse
import sys

from common import ROOT, progress, write_section

sys.path.insert(0, str(ROOT / "module_utils"))
import labs_docker  # noqa: E402  (the project's Docker SDK access)

TARGET_MB = 150.0
TARGET_APP = "student_api"
LABS_ANCHOR_MB = 900  # python:3.8-buster, the labs' base image, about 900 MB on its own
BASE_IMAGES = ["labs/debian:bookworm", "labs/python:bookworm"]


def app_names() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "apps").glob("*/Dockerfile"))


def size_mb(client, ref: str) -> float | None:
    try:
        return client.images.get(ref).attrs["Size"] / 1e6
    except Exception as exc:  # docker.errors.ImageNotFound, or the engine refused
        progress(f"{ref}: not found ({exc.__class__.__name__})")
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="latest", help="tag of the app images (default latest)")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not touch bench/RESULTS.md")
    args = parser.parse_args()
    client = labs_docker.get_client()
    rows = []  # (image, kind, MB or None)
    for app in app_names():
        ref = f"labs/{app}:{args.tag}"
        rows.append((ref, "app", size_mb(client, ref)))
    for ref in BASE_IMAGES:
        rows.append((ref, "base", size_mb(client, ref)))
    for ref, _kind, mb in rows:
        if mb is not None:
            progress(f"{ref}: {mb:.1f} MB")

    lines = ["| image | kind | size (MB) | target | verdict |", "| --- | --- | --- | --- | --- |"]
    for ref, kind, mb in rows:
        shown = "missing" if mb is None else f"{mb:.1f}"
        target, verdict = "", ""
        if ref == f"labs/{TARGET_APP}:{args.tag}":
            target = f"<= {TARGET_MB:.0f} MB"
            if mb is None:
                verdict = "not measured (image not built)"
            else:
                verdict = "met" if mb <= TARGET_MB else f"missed by {mb - TARGET_MB:.1f} MB"
        lines.append(f"| {ref} | {kind} | {shown} | {target} | {verdict} |")

    api = next(mb for ref, _k, mb in rows if ref == f"labs/{TARGET_APP}:{args.tag}")
    python_base = next(mb for ref, _k, mb in rows if ref == "labs/python:bookworm")
    lines.append("")
    if api is None:
        lines.append(f"- Student API image: labs/{TARGET_APP}:{args.tag} is not built: target not measured.")
    elif api <= TARGET_MB:
        lines.append(f"- Student API image: {api:.1f} MB, target <= {TARGET_MB:.0f} MB: met "
                     f"({TARGET_MB - api:.1f} MB to spare).")
    else:
        lines.append(f"- Student API image: {api:.1f} MB, target <= {TARGET_MB:.0f} MB: missed by "
                     f"{api - TARGET_MB:.1f} MB.")
    if api is not None:
        extra = f", of which {python_base:.1f} MB is the shared labs/python:bookworm base" if python_base else ""
        lines.append(f"- Anchor: the labs built the API FROM python:3.8-buster, about {LABS_ANCHOR_MB} MB; "
                     f"this image is {api:.1f} MB{extra} (about {LABS_ANCHOR_MB / api:.0f}x smaller).")
    missing = [ref for ref, _k, mb in rows if mb is None]
    if missing:
        lines.append(f"- Not built on this machine, so not measured: {', '.join(missing)}.")
    lines += [
        "",
        "Sizes as `docker images` shows them (the image's uncompressed size on this engine, MB = 1e6 bytes), "
        "the base images' layers included; images built FROM the same base share those layers on disk. "
        "One reading per image: a size does not vary between readings, so no median is taken.",
    ]
    table = "\n".join(lines)
    if args.no_write:
        print(table)
    else:
        print(write_section("image_sizes", table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
