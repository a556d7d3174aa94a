"""Fault and bad-input tests of the project's containers.

Every test here is marked ``docker``: it is skipped, with the reason, when no
Docker engine answers or when one of the labs/* images it runs is missing
(build them with ``ansible-playbook playbooks/images.yml`` or ``make up``).
The figures (faults injected and survived, requests tried, 5xx answers,
acknowledged and lost writes) are printed at the end of the session and
written to artifacts/faults.json.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
import faults_harness as harness  # noqa: E402

docker = pytest.importorskip("docker")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "artifacts" / "faults.json"


@pytest.fixture(scope="session")
def engine():
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=host, version="auto", timeout=60)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no engine to test with
        pytest.skip("no Docker engine answers at %s: %s" % (host, exc))
    missing = []
    for image in harness.IMAGES.values():
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    if missing:
        pytest.skip("project images missing: %s (build them: ansible-playbook playbooks/images.yml)"
                    % ", ".join(missing))
    yield client
    client.close()


@pytest.fixture(scope="session")
def stack(engine):
    made = harness.Stack(engine)
    yield made
    errors = made.cleanup()
    if errors:
        warnings.warn("fault test clean-up left things behind: %s" % "; ".join(errors))


@pytest.fixture(scope="session")
def figures():
    return harness.FIGURES


@pytest.fixture(scope="session")
def apps(stack):
    """The four app containers, as the roles wire them: student API + website on one
    network, the lab 003 backend + frontend on another. {app: (container, base URL)}."""
    students = stack.network("students")
    pair = stack.network("api_pair")
    api = stack.student_api("student-api", students)
    website = stack.run("website", "student-website", students, env={
        "API_URL": "http://%sstudent-api:5000" % harness.PREFIX,
        "USERNAME_FILE": "/run/secrets/api_username",
        "PASSWORD_FILE": "/run/secrets/api_password",
    }, volumes=stack.secret_mounts())
    backend = stack.run("api_backend", "api-backend", pair)
    frontend = stack.run("api_frontend", "api-frontend", pair, env={
        "API_BACKEND_URL": harness.PREFIX + "api-backend", "API_BACKEND_PORT": "8001"})
    started = {"student_api": api, "website": website, "api_backend": backend, "api_frontend": frontend}
    for container, _url in started.values():
        harness.wait_healthy(container, timeout=90)
    return started


def pytest_terminal_summary(terminalreporter):
    figures = harness.FIGURES
    if not figures.counts:
        return
    terminalreporter.section("fault tests: figures")
    for line in figures.lines():
        terminalreporter.write_line(line)
    try:
        ARTIFACT.parent.mkdir(exist_ok=True)
        ARTIFACT.write_text(json.dumps(figures.as_dict(), indent=2) + "\n")
        terminalreporter.write_line("(also in %s)" % ARTIFACT.relative_to(ROOT))
    except OSError as exc:
        terminalreporter.write_line("cannot write %s: %s" % (ARTIFACT, exc))
