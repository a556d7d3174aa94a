"""SIGKILL of each app container's main process: Docker's restart policy brings it back healthy."""

from __future__ import annotations

import json
import time

import pytest

import faults_harness as harness
from faults_harness import http

pytestmark = pytest.mark.docker

AUTH = (harness.API_USER, harness.API_PASSWORD)


def contract_answers(app, url):
    """The app's own contract answers again (not just its health probe)."""
    if app == "student_api":
        response = http("GET", url + harness.COLLECTION, auth=AUTH)
        return response is not None and response.status_code == 200 and "student_ages" in response.json()
    if app == "website":
        # "List Student" goes through the student API with the credentials from the files.
        response = http("POST", url + "/", data={"submit": "1"})
        return response is not None and response.status_code == 200 and "Ahmed" in response.text
    if app == "api_backend":
        response = http("GET", url + "/")
        return response is not None and response.status_code == 200 and \
            response.content == json.dumps({"body": "Je suis une r\u00e9ponse du backend"}).encode()
    response = http("GET", url + "/")
    return response is not None and response.status_code == 200 and response.json()["status"] == "[SUCESS]"


@pytest.mark.parametrize("app", ["student_api", "website", "api_backend", "api_frontend"])
def test_sigkill_of_pid1_is_survived(apps, app, figures):
    container, url = apps[app]
    harness.wait_healthy(container, timeout=60)
    assert contract_answers(app, url)
    started = time.monotonic()
    count = harness.sigkill_main_process(container)
    harness.wait_restarted(container, count, timeout=60)
    harness.wait_healthy(container, timeout=60)
    harness.wait_for(lambda: contract_answers(app, url), 30, "%s answers its contract" % app)
    figures.recovered("SIGKILL %s" % app, time.monotonic() - started)
    assert harness.inspect(container)["RestartCount"] == count + 1
