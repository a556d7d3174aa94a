"""The student API's data under faults: re-created container, concurrent writes,
and a SIGKILL of PID 1 in the middle of a write burst."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import faults_harness as harness
from faults_harness import COLLECTION, http

pytestmark = pytest.mark.docker

AUTH = (harness.API_USER, harness.API_PASSWORD)
WORKERS = 16  # client threads: bounded, the machine has 2 cores


@pytest.fixture
def private_api(stack):
    """A student API of its own on its own volume (the test may kill or replace it)."""
    volume = stack.volume("data-%d" % time.monotonic_ns())
    container, url = stack.student_api("api-%d" % time.monotonic_ns(), volume=volume)
    harness.wait_healthy(container, timeout=90)
    return dict(stack=stack, volume=volume, container=container, url=url)


def students(url):
    response = http("GET", url + COLLECTION, auth=AUTH)
    assert response is not None and response.status_code == 200, response
    return response.json()["student_ages"]


def post(url, name, age, timeout=harness.REQUEST_TIMEOUT):
    response = http("POST", url + COLLECTION, auth=AUTH, json={"name": name, "age": age}, timeout=timeout)
    return None if response is None else response.status_code


def test_recreated_container_on_same_volume_keeps_the_data(private_api, figures):
    url = private_api["url"]
    for n in range(20):
        assert post(url, "recreate-%02d" % n, 18 + n % 50) == 201
    assert http("PUT", url + COLLECTION + "/recreate-00", auth=AUTH, json={"age": 99}).status_code == 200
    assert http("DELETE", url + COLLECTION + "/recreate-01", auth=AUTH).status_code == 200
    before = students(url)
    assert len(before) == 6 + 20 - 1 and before["recreate-00"] == "99"

    # What docker_container does when the configuration changes: stop, remove, create, start.
    stack, old = private_api["stack"], private_api["container"]
    started = time.monotonic()
    old.stop(timeout=10)
    stack.remove(old)
    figures.add("faults_injected")
    new, new_url = stack.student_api("api-recreated-%d" % time.monotonic_ns(), volume=private_api["volume"])
    harness.wait_healthy(new, timeout=90)
    assert students(new_url) == before
    figures.recovered("re-create student_api on its volume", time.monotonic() - started)


def test_200_concurrent_writes_are_all_kept(private_api, figures):
    url = private_api["url"]
    names = ["concurrent-%03d" % n for n in range(200)]
    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(lambda n: post(url, n, 1 + int(n[-3:]) % 150), names))
    assert statuses == [201] * len(names)
    figures.add("writes_acknowledged", len(names))
    kept = students(url)
    missing = [n for n in names if kept.get(n) != str(1 + int(n[-3:]) % 150)]
    figures.add("writes_lost", len(missing))
    assert missing == []
    assert harness.read_data_file(private_api["container"]) == kept


def test_sigkill_during_write_burst_keeps_every_acknowledged_write(private_api, figures):
    url, container = private_api["url"], private_api["container"]
    acknowledged, unanswered, other = [], [], []
    lock = threading.Lock()
    kill_after = 40  # acknowledged writes before the kill
    names = ["burst-%03d" % n for n in range(300)]

    def write(name):
        status = post(url, name, 20, timeout=5)
        with lock:
            if status is not None and 200 <= status < 300:
                acknowledged.append(name)
            elif status is None:
                unanswered.append(name)
            else:
                other.append((name, status))

    started = None
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(write, n) for n in names]
        harness.wait_for(lambda: len(acknowledged) >= kill_after, 30, "%d writes acknowledged" % kill_after,
                         interval=0.01)
        started = time.monotonic()
        count = harness.sigkill_main_process(container)
        for future in futures:
            future.result(timeout=120)
    harness.wait_restarted(container, count, timeout=60)
    harness.wait_healthy(container, timeout=60)
    figures.recovered("SIGKILL student_api during a write burst", time.monotonic() - started)

    data = harness.read_data_file(container)  # raises if the file is not valid JSON
    assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
    lost = sorted(set(acknowledged) - set(data))
    figures.add("writes_acknowledged", len(acknowledged))
    figures.add("writes_lost", len(lost))
    figures.note("write burst: %d POSTs, %d acknowledged, %d cut by the SIGKILL (no answer), "
                 "%d other answers, %d lost" % (len(names), len(acknowledged), len(unanswered),
                                                 len(other), len(lost)))
    assert lost == []
    assert unanswered, "the kill came after the burst: nothing was in flight"
    assert other == []  # every answer is 201: no 5xx, no 409 (no name is sent twice)
    assert students(url) == data
    assert post(url, "after-the-kill", 30) == 201  # and it takes writes again
    assert harness.read_data_file(container)["after-the-kill"] == "30"
