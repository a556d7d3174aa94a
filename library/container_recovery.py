#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Crash a container on purpose and measure how it recovers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: container_recovery
short_description: Crash a container and measure its recovery
description:
  - Crashes the application of a running container, either by requesting a crash URL
    of the application or by sending a signal to the container's main process, then waits
    for Docker's restart policy to bring the container back.
  - Checks that the restart count went up, that the expected application is PID 1 of the
    container again, and that a health URL answers with the expected status.
  - Returns the recovery time in seconds, from the crash to the first good health answer
    (or to the expected PID 1 when O(health_url) is not given).
  - Docker delays repeated quick restarts (100 ms, doubled at each restart of a container
    that ran less than 10 seconds); O(timeout) must leave room for that when the module
    runs several times in a row.
  - Talks to the Docker Engine API through the Docker SDK for Python, never the C(docker) CLI.
options:
  name:
    description:
      - Name or ID of the running container to crash.
      - Its restart policy must not be V(no).
    type: str
    required: true
  crash_url:
    description:
      - URL whose request makes the application crash, for example V(http://127.0.0.1:8000/traceback).
      - A request that ends without an HTTP answer (connection reset, because the process died
        mid-request) is expected and not an error.
      - Exactly one of O(crash_url) and O(signal) is required.
    type: str
  crash_method:
    description:
      - HTTP method of the O(crash_url) request.
    type: str
    default: GET
    choices: [GET, POST, PUT, DELETE]
  signal:
    description:
      - Signal sent to the container's main process, by name (V(SIGKILL), V(KILL)) or number (V(9)).
      - The signal is sent from the Docker host to the host PID of the container's main process,
        as a crash would be seen. A signal sent through the Docker API (C(docker kill)) marks the
        container as stopped by hand and Docker does not restart it, and PID 1 ignores a
        V(SIGKILL) sent from inside the container.
      - So the module must run on the Docker host itself, with the same PID namespace as the engine;
        it checks that the PID belongs to the container before signalling it.
      - Exactly one of O(crash_url) and O(signal) is required.
    type: str
  expected_pid1:
    description:
      - Substring expected in the command line of PID 1 of the restarted container
        (C(/proc/1/cmdline), arguments joined by spaces), for example V(gunicorn).
      - When not set, any PID 1 is accepted; its command line is returned all the same.
    type: str
  health_url:
    description:
      - URL polled after the restart until it answers with O(health_status).
      - When not set, no HTTP check is made and RV(health_status) is null.
    type: str
  health_status:
    description:
      - HTTP status that O(health_url) must answer with.
    type: int
    default: 200
  timeout:
    description:
      - Seconds allowed from the crash to a full recovery (restart, PID 1, health).
    type: float
    default: 60
extends_documentation_fragment:
  - labs
  - labs.tls
  - labs.docker
attributes:
  check_mode:
    support: none
    details:
      - The module crashes the container, so it refuses to run in check mode and fails with a message saying so.
  diff_mode:
    support: none
requirements:
  - Docker SDK for Python (C(docker)) on the managed host
  - Docker Engine API 1.25 or newer
notes:
  - The container must be running when the module starts, and recover within O(timeout).
  - A port published without a fixed host port may get another host port at each restart;
    O(health_url) needs a fixed one.
author:
  - devops-labs project
"""

EXAMPLES = r"""
- name: Crash the student app through its traceback endpoint and time the recovery
  container_recovery:
    name: student-app
    crash_url: http://127.0.0.1:8000/traceback
    expected_pid1: gunicorn
    health_url: http://127.0.0.1:8000/health
    timeout: 60
  register: recovery

- name: Recovery must take less than 15 seconds
  ansible.builtin.assert:
    that: recovery.recovery_seconds < 15

- name: Kill the API's main process as the kernel OOM killer would
  container_recovery:
    name: api-backend
    signal: SIGKILL
    health_url: https://127.0.0.1:8443/healthz
    ca_path: /etc/labs/ca.pem
    health_status: 200
"""

RETURN = r"""
container:
  description: Name of the container, as given in O(name).
  returned: success
  type: str
  sample: student-app
recovery_seconds:
  description:
    - Seconds from the crash to the first good answer of O(health_url),
      or to the expected PID 1 when O(health_url) is not given.
  returned: success
  type: float
  sample: 1.532
restart_seconds:
  description: Seconds from the crash until Docker reported the restarted container running.
  returned: success
  type: float
  sample: 0.612
restart_count_before:
  description: Docker's restart count of the container before the crash.
  returned: success, and on failure once the container was found
  type: int
  sample: 0
restart_count_after:
  description: Docker's restart count of the container after the recovery (or when the module gave up).
  returned: success, and on failure once the container was found
  type: int
  sample: 1
pid1_cmdline:
  description: Command line of PID 1 in the restarted container, arguments joined by spaces.
  returned: success
  type: str
  sample: /usr/local/bin/python /usr/local/bin/gunicorn app:app
health_status:
  description: HTTP status answered by O(health_url); null when O(health_url) is not given.
  returned: success
  type: int
  sample: 200
crash:
  description: How the crash was triggered and what the trigger returned (empty when no crash was triggered).
  returned: success, and on failure once the container was found
  type: str
  sample: "GET http://127.0.0.1:8000/traceback: no HTTP answer (expected when the process dies mid-request): Connection reset by peer"
"""

import os
import signal as signal_module
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labs_docker import (
    DockerAccessError,
    docker_argument_spec,
    get_client,
    inspect_container,
    is_running,
    pid1_cmdline,
    restart_count,
    state_status,
)
from ansible.module_utils.labs_http import HttpError, request, tls_argument_spec, wait_until

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    crash_url=dict(type="str"),
    crash_method=dict(type="str", default="GET", choices=["GET", "POST", "PUT", "DELETE"]),
    signal=dict(type="str"),
    expected_pid1=dict(type="str"),
    health_url=dict(type="str"),
    health_status=dict(type="int", default=200),
    timeout=dict(type="float", default=60),
    **tls_argument_spec(),
    **docker_argument_spec(),
)

# Seconds between two looks at the container or the health URL.
POLL_DELAY = 0.2
# Longest wait for one HTTP answer (crash or health request).
REQUEST_TIMEOUT = 10.0
# Where the host's processes are seen.
PROC = "/proc"


class RecoveryError(Exception):
    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details


def parse_signal(value):
    """'SIGKILL', 'kill', '9' -> signal.Signals.SIGKILL."""
    text = str(value).strip().upper()
    try:
        if text.isdigit():
            return signal_module.Signals(int(text))
        return signal_module.Signals[text if text.startswith("SIG") else "SIG" + text]
    except (KeyError, ValueError):
        raise RecoveryError("unknown signal %r" % (value,))


def host_pid_of(inspect):
    """Host PID of the container's main process, checked against its cgroup."""
    pid = int((inspect.get("State") or {}).get("Pid") or 0)
    container_id = inspect.get("Id", "")
    try:
        with open(os.path.join(PROC, str(pid), "cgroup")) as handle:
            cgroups = handle.read()
    except OSError:
        cgroups = ""
    if not pid or not container_id or container_id not in cgroups:
        raise RecoveryError(
            "cannot signal the container's main process: host PID %s is not a process of "
            "container %s on this machine; signal needs the module to run on the Docker host "
            "itself (use crash_url otherwise)" % (pid, container_id[:12]))
    return pid


def send_signal(inspect, signum):
    pid = host_pid_of(inspect)
    try:
        os.kill(pid, signum)
    except OSError as exc:
        raise RecoveryError("cannot send %s to host PID %d: %s" % (signum.name, pid, exc))
    return "%s sent to host PID %d" % (signum.name, pid)


def request_crash(params, timeout):
    url, method = params["crash_url"], params["crash_method"]
    try:
        response = request(url, method=method, timeout=timeout,
                           validate_certs=params["validate_certs"], ca_path=params["ca_path"])
    except HttpError as exc:
        return "%s %s: no HTTP answer (expected when the process dies mid-request): %s" % (
            method, url, exc)
    return "%s %s: HTTP %d" % (method, url, response.status)


def _poll(check, deadline, clock, sleep):
    """Call check() until it returns a value other than None or the deadline passes.

    Returns (value, timed_out).
    """
    def once():
        value = check()
        if value is not None:
            return ("ok", value)
        if clock() >= deadline:
            return ("timeout", None)
        return None

    # once() ends the loop at the deadline, so the retry count is only an upper bound.
    result, _attempts, _elapsed = wait_until(once, retries=sys.maxsize, delay=POLL_DELAY,
                                             backoff=1.0, max_delay=POLL_DELAY,
                                             sleep=sleep, clock=clock)
    return result[1], result[0] == "timeout"


def recover(client, params, clock=time.monotonic, sleep=time.sleep):
    """Crash params['name'], wait for its recovery and return the result dict."""
    name = params["name"]
    before = inspect_container(client, name)
    count_before = restart_count(before)
    result = dict(container=name, restart_count_before=count_before,
                  restart_count_after=count_before, crash="")
    if not is_running(before):
        raise RecoveryError("container %s is not running (state: %s); start it first"
                            % (name, state_status(before)), **result)
    policy = ((before.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    if policy == "no":
        raise RecoveryError("container %s has restart policy 'no': Docker would not restart it "
                            "after a crash" % name, **result)
    signum = parse_signal(params["signal"]) if params["signal"] else None

    start = clock()
    deadline = start + params["timeout"]
    if signum is not None:
        result["crash"] = send_signal(before, signum)
    else:
        result["crash"] = request_crash(params, min(REQUEST_TIMEOUT, params["timeout"]))

    # 1. Docker restarts the container.
    seen = {"inspect": before}

    def restarted():
        seen["inspect"] = inspect_container(client, name)
        if restart_count(seen["inspect"]) > count_before and is_running(seen["inspect"]):
            return True
        return None

    _value, timed_out = _poll(restarted, deadline, clock, sleep)
    result["restart_count_after"] = restart_count(seen["inspect"])
    if timed_out:
        raise RecoveryError(
            "container %s was not restarted within %ss (restart count %d -> %d, state %s, "
            "restart policy %s); crash: %s" % (
                name, params["timeout"], count_before, result["restart_count_after"],
                state_status(seen["inspect"]), policy, result["crash"]), **result)
    result["restart_seconds"] = round(clock() - start, 3)

    # 2. The application is PID 1 again.
    expected = params["expected_pid1"]

    def pid1_ok():
        seen["pid1"] = pid1_cmdline(client, name)
        if seen["pid1"] and (not expected or expected in seen["pid1"]):
            return seen["pid1"]
        return None

    cmdline, timed_out = _poll(pid1_ok, deadline, clock, sleep)
    if timed_out:
        raise RecoveryError("PID 1 of container %s is %r, not the expected %r, %ss after the crash"
                            % (name, seen.get("pid1"), expected, params["timeout"]),
                            pid1_cmdline=seen.get("pid1"), **result)
    result["pid1_cmdline"] = cmdline

    # 3. The application answers on its health URL.
    result["health_status"] = None
    if params["health_url"]:
        url, wanted = params["health_url"], params["health_status"]

        def healthy():
            remaining = max(deadline - clock(), 0.1)
            try:
                response = request(url, timeout=min(REQUEST_TIMEOUT, remaining),
                                   validate_certs=params["validate_certs"],
                                   ca_path=params["ca_path"])
            except HttpError as exc:
                seen["health"] = str(exc)
                return None
            seen["health"] = "HTTP %d" % response.status
            return response.status if response.status == wanted else None

        status, timed_out = _poll(healthy, deadline, clock, sleep)
        if timed_out:
            raise RecoveryError("%s did not answer HTTP %d within %ss of the crash (last: %s)"
                                % (url, wanted, params["timeout"], seen.get("health")),
                                **result)
        result["health_status"] = status

    result["recovery_seconds"] = round(clock() - start, 3)
    result["restart_count_after"] = restart_count(inspect_container(client, name))
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("crash_url", "signal")],
        required_one_of=[("crash_url", "signal")],
        supports_check_mode=True,  # to refuse it with a clear message below
    )
    if module.check_mode:
        module.fail_json(msg="container_recovery crashes container %s on purpose and cannot run "
                             "in check mode; run it without --check (or skip it with "
                             "'when: not ansible_check_mode')" % module.params["name"])
    if module.params["timeout"] <= 0:
        module.fail_json(msg="timeout must be greater than 0")
    try:
        if module.params["signal"]:
            parse_signal(module.params["signal"])  # fail before touching anything
        client = get_client(module.params["docker_host"])
        result = recover(client, module.params)
    except DockerAccessError as exc:
        module.fail_json(msg=str(exc))
    except RecoveryError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
