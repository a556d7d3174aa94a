"""A throwaway container on this machine's Docker engine, for tests that need a labelled one running (CI runs no
stack): importable by name from any test (tests/conftest.py puts this folder on the path)."""

import contextlib
import subprocess
import uuid

import pytest

# The base image the test images are built on (make molecule-images).
IMAGE = "labs/debian:bookworm"


@contextlib.contextmanager
def throwaway_container(labels, *docker_args):
    """Yield the ID of a container of IMAGE sleeping as nobody with no capability, carrying `labels` ("k=v") and
    the extra `docker run` arguments; removed on exit. Skips the test when IMAGE is not on the engine."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("%s is not on this Docker engine (make molecule-images)" % IMAGE)
    name = "labs-test-%s" % uuid.uuid4().hex[:12]
    started = subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "--cap-drop", "ALL", "--user", "65534:65534",
         *[arg for label in labels for arg in ("--label", label)], *docker_args, IMAGE, "sleep", "300"],
        capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
