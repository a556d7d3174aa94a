#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Status of the project's Docker Compose stacks on one host (the module behind make status)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stack_status
short_description: Report the state of the project's Docker Compose stacks on a host
description:
  - For each stack in O(stacks) (a Docker Compose project), finds the containers labelled
    C(com.docker.compose.project=<name>) and C(com.docker.compose.service=<service>), running or
    not, and returns one row per declared service with its state, health, restart count,
    published addresses, image and image digest, plus a plain-text table of them.
  - "A long-running service (O(stacks[].services)) is unwell when it is missing, not running,
    restarting, unhealthy or its healthcheck is still starting (an OOM kill is added to the reasons; a service
    the restart policy brought back from an OOM kill is well, its NOTE says V(OOM killed)).
    A one-shot job (O(stacks[].oneshot)) is unwell only when its last run exited non-zero
    or was OOM killed; a job that never ran is fine."
  - "One-shot jobs are found whether they were run with C(docker compose run) (label
    C(com.docker.compose.oneoff=True)) or as ordinary service containers; of several runs,
    the newest container (by creation time) is reported."
  - "Containers of a project whose service is not declared get a row with RV(services[].kind)
    V(undeclared) and are listed in RV(undeclared); they are never unwell.
    C(docker compose run) containers of a declared long-running service are ignored."
  - A long-running service with several containers (scaled) gets one row per container.
  - Fails, after reporting everything, when a service is unwell and O(fail_on_unwell) is true.
  - Talks to the Docker Engine API through the Docker SDK for Python, never the C(docker) CLI.
options:
  stacks:
    description:
      - The stacks expected on the host, each one Docker Compose project.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The Compose project name (label C(com.docker.compose.project)), for example V(api_pair).
        type: str
        required: true
      services:
        description:
          - The long-running services of the stack (label C(com.docker.compose.service)).
        type: list
        elements: str
        default: []
      oneshot:
        description:
          - The one-shot jobs of the stack (migrations, seeders, ETL runs).
        type: list
        elements: str
        default: []
  fail_on_unwell:
    description:
      - Fail when a service is unwell (RV(unwell) not empty). The rows and the table are returned either way.
    type: bool
    default: true
extends_documentation_fragment:
  - labs
  - labs.read_only
  - labs.docker
requirements:
  - Docker SDK for Python (C(docker)) on the managed host
author:
  - devops-labs project
"""

EXAMPLES = r"""
- name: Check every stack of the host
  stack_status:
    stacks:
      - name: api_pair
        services: [api-backend, api-frontend]
      - name: etl
        services: [etl-postgres]
        oneshot: [etl-load]
  register: status

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ status.table }}"

- name: Report only, never fail
  stack_status:
    stacks:
      - name: registry
        services: [registry, registry-ui]
    fail_on_unwell: false
    docker_host: unix:///run/user/1000/docker.sock
"""

RETURN = r"""
services:
  description: One row per declared service (per container when scaled), then the undeclared containers, stack by stack.
  returned: always
  type: list
  elements: dict
  contains:
    stack:
      description: Compose project name.
      type: str
      sample: api_pair
    service:
      description: Compose service name.
      type: str
      sample: api-backend
    kind:
      description: V(service) (declared long-running), V(oneshot) (declared one-shot job) or V(undeclared).
      type: str
      sample: service
    container:
      description: Container name; empty when there is no container.
      type: str
      sample: api-backend
    state:
      description:
        - V(running), V(exited (code N)), V(restarting), V(created), V(paused), V(dead),
          V(missing) (long-running service without container) or V(never run) (one-shot job without container).
      type: str
      sample: running
    health:
      description: V(healthy), V(unhealthy), V(starting), V(none) (no healthcheck); empty when there is no container.
      type: str
      sample: healthy
    restarts:
      description: The container's RestartCount.
      type: int
      sample: 0
    ports:
      description:
        - Published addresses, comma separated, as V(host IP:host port->container port/protocol).
        - Actual bindings of a running container, configured ones otherwise (host port V(*) when Docker picks it).
      type: str
      sample: 127.0.0.1:8000->8000/tcp
    image:
      description: The image the container was created from, as written (Config.Image).
      type: str
      sample: 127.0.0.1:5001/labs/api_backend:1.0.0
    image_id:
      description: ID of the container's image.
      type: str
      sample: sha256:c76c2264246c0d5f2d3bbcb1c2e0c4b0b8d8c0e3e2f7f1d1a3f5e9a8b7c6d5e4
    digest:
      description:
        - The image's RepoDigests entry for the image's repository, else its first RepoDigests
          entry, else empty (image never pushed or pulled).
      type: str
      sample: 127.0.0.1:5001/labs/api_backend@sha256:5b0c7e0d1f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c
    started_at:
      description: When the container last started (State.StartedAt); empty when it never started.
      type: str
      sample: "2026-11-21T20:57:42.504182294Z"
    oom_killed:
      description: State.OOMKilled.
      type: bool
      sample: false
    oom_events:
      description:
        - How many C(oom) events Docker reported for the container in the last 24 hours. A container whose main
          process was killed by its memory limit and restarted by its restart policy shows here (and in the
          table's NOTE as V(OOM xN)) although State.OOMKilled is false again.
        - Docker keeps its events in memory; a restart of dockerd forgets them.
      type: int
      sample: 0
    unwell:
      description: Why the row is unwell; empty when it is fine.
      type: list
      elements: str
      sample: []
unwell:
  description: "One line per unwell service, V(stack/service: reasons)."
  returned: always
  type: list
  elements: str
  sample: ["api_pair/api-backend: unhealthy (last check exit 1: connection refused)", "etl/etl-load: last run exited (code 1)"]
undeclared:
  description: "One line per container of a stack whose service is not declared, V(stack/service: container NAME, STATE)."
  returned: always
  type: list
  elements: str
  sample: ["api_pair/debug-shell: container debug-shell, running"]
table:
  description: The rows as a plain-text table with aligned columns, header first, for a debug message.
  returned: always
  type: list
  elements: str
  sample:
    - "STACK     SERVICE       STATE    HEALTH   RESTARTS  PORTS                     DIGEST               NOTE"
    - "api_pair  api-backend   running  healthy  0         127.0.0.1:8000->8000/tcp  sha256:5b0c7e0d1f9a  -"
stacks_checked:
  description: Number of stacks checked.
  returned: always
  type: int
  sample: 4
"""

import calendar
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labs_docker import (
    DockerAccessError,
    container_name,
    docker_argument_spec,
    get_client,
    health_status,
    inspect_image,
    list_containers,
    published_ports,
    restart_count,
    state_status,
)

ARGUMENT_SPEC = dict(
    stacks=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        services=dict(type="list", elements="str", default=[]),
        oneshot=dict(type="list", elements="str", default=[]),
    )),
    fail_on_unwell=dict(type="bool", default=True),
    **docker_argument_spec(),
)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"

NEVER = "0001-01-01T00:00:00Z"  # Docker's zero time
_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")

TABLE_COLUMNS = ("STACK", "SERVICE", "STATE", "HEALTH", "RESTARTS", "PORTS", "DIGEST", "NOTE")


# --- pure helpers over inspect documents ---------------------------------------

def labels(inspect):
    return (inspect.get("Config") or {}).get("Labels") or {}


def is_oneoff(inspect):
    return labels(inspect).get(ONEOFF_LABEL, "").lower() == "true"


def created_key(inspect):
    """A sort key for ``Created`` (RFC 3339 with up to nanoseconds, trailing zeros trimmed
    by Docker, so plain string order is wrong), tie-broken by ID."""
    created = inspect.get("Created") or ""
    match = _TIME.match(created)
    if not match:
        return (0, created, inspect.get("Id", ""))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second)))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int(((fraction or "") + "000000000")[:9])
    return (1, seconds * 10 ** 9 + nanos, inspect.get("Id", ""))


def newest(inspects):
    """The most recently created of ``inspects`` (None when empty)."""
    return max(inspects, key=created_key) if inspects else None


def repository(reference):
    """The repository part of an image reference, without tag or digest, in Docker's short form.

    V(127.0.0.1:5001/labs/etl:1.0.0) -> V(127.0.0.1:5001/labs/etl); V(docker.io/library/debian) -> V(debian).
    """
    name = (reference or "").split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            if name.startswith("library/") and name.count("/") == 1:
                name = name[len("library/"):]
            break
    return name


def pick_digest(image_reference, repo_digests):
    """The RepoDigests entry of the reference's repository, else the first entry, else ""."""
    repo_digests = [d for d in repo_digests or [] if d]
    wanted = repository(image_reference)
    for entry in repo_digests:
        if repository(entry) == wanted:
            return entry
    return repo_digests[0] if repo_digests else ""


def format_ports(bindings):
    """"127.0.0.1:8000->8000/tcp, [::]:8000->8000/tcp" from {(port, host IP, host port)}."""
    def key(binding):
        port, ip, host_port = binding
        number, _, proto = port.partition("/")
        return (int(number) if number.isdigit() else 0, proto, ":" in ip, ip, host_port)
    return ", ".join("%s:%s->%s" % ("[%s]" % ip if ":" in ip else ip, host_port or "*", port)
                     for port, ip, host_port in sorted(bindings, key=key))


def container_ports(inspect):
    """Actual bindings of a running container, configured ones otherwise."""
    actual = published_ports(inspect, configured=False)
    return format_ports(actual or published_ports(inspect, actual=False))


def state_text(inspect):
    """running, restarting, exited (code N), created, paused, dead ..."""
    status = state_status(inspect)
    state = inspect.get("State") or {}
    if state.get("Restarting"):
        return "restarting"
    if status == "exited":
        return "exited (code %s)" % state.get("ExitCode", "?")
    return status or "unknown"


def last_health_output(inspect):
    """"exit N: first line of output" of the last healthcheck, or ""."""
    log = ((inspect.get("State") or {}).get("Health") or {}).get("Log") or []
    if not log:
        return ""
    last = log[-1]
    output = (last.get("Output") or "").strip().splitlines()
    text = "exit %s" % last.get("ExitCode", "?")
    if output:
        line = output[0].strip()
        text += ": " + (line[:77] + "..." if len(line) > 80 else line)
    return text


def build_row(stack, service, kind, inspect=None, image=None):
    """One status row from a container's inspect dict (None: no container) and its image's."""
    row = dict(stack=stack, service=service, kind=kind, container="", health="", restarts=0,
               ports="", image="", image_id="", digest="", started_at="", oom_killed=False, oom_events=0)
    if inspect is None:
        row["state"] = "never run" if kind == "oneshot" else "missing"
        return row
    state = inspect.get("State") or {}
    started = state.get("StartedAt") or ""
    row.update(
        container=container_name(inspect),
        state=state_text(inspect),
        health=health_status(inspect) or "none",
        restarts=restart_count(inspect),
        ports=container_ports(inspect),
        image=(inspect.get("Config") or {}).get("Image") or "",
        image_id=inspect.get("Image") or "",
        digest=pick_digest((inspect.get("Config") or {}).get("Image"), (image or {}).get("RepoDigests")),
        started_at="" if started.startswith("0001-01-01") else started,
        oom_killed=bool(state.get("OOMKilled")),
    )
    return row


def unwell_reasons(row, inspect=None):
    """Why ``row`` is unwell (empty list: it is fine)."""
    kind, state, health = row["kind"], row["state"], row["health"]
    reasons = []
    if kind == "undeclared":
        return reasons
    if kind == "oneshot":
        if state.startswith("exited") and state != "exited (code 0)":
            reasons.append("last run %s" % state)
        elif state == "dead":
            reasons.append("last run dead")
    elif state == "missing":
        reasons.append("missing (no container)")
    elif state == "restarting":
        reasons.append("restarting (%d restarts)" % row["restarts"])
    elif state != "running":
        reasons.append("not running (%s)" % state)
    elif health == "unhealthy":
        last = last_health_output(inspect or {})
        reasons.append("unhealthy (last check %s)" % last if last else "unhealthy")
    elif health == "starting":
        reasons.append("health check still starting")
    # Docker 20.10 keeps State.OOMKilled true after the restart policy has brought the container back: a
    # service running (and healthy) again is well, the kill stays in its NOTE; one that is down says why.
    if row["oom_killed"] and (reasons or kind == "oneshot"):
        reasons.append("OOM killed")
    return reasons


def stack_rows(stack, inspects, images, ooms=None):
    """Rows of one stack (a dict of the ``stacks`` option) from its containers' inspect dicts.

    ``images`` maps an image ID to its inspect dict (or None when unknown); ``ooms`` a container ID to its
    number of ``oom`` events.
    """
    name = stack["name"]
    by_service = {}
    for inspect in inspects:
        by_service.setdefault(labels(inspect).get(SERVICE_LABEL, ""), []).append(inspect)

    rows = []

    def add(service, kind, inspect):
        image = images.get(inspect.get("Image")) if inspect else None
        row = build_row(name, service, kind, inspect, image)
        if inspect:
            row["oom_events"] = (ooms or {}).get(inspect.get("Id"), 0)
        row["unwell"] = unwell_reasons(row, inspect)
        rows.append(row)

    for service in stack.get("services") or []:
        containers = sorted((i for i in by_service.get(service, []) if not is_oneoff(i)),
                            key=container_name)
        for inspect in containers or [None]:
            add(service, "service", inspect)
    for service in stack.get("oneshot") or []:
        add(service, "oneshot", newest(by_service.get(service, [])))
    declared = set(stack.get("services") or []) | set(stack.get("oneshot") or [])
    for service in sorted(set(by_service) - declared):
        for inspect in sorted(by_service[service], key=container_name):
            add(service, "undeclared", inspect)
    return rows


def short_digest(digest):
    """sha256: and the first 12 hex digits of a RepoDigests entry, as Docker shortens IDs."""
    value = digest.split("@", 1)[-1]
    algo, _, hexa = value.partition(":")
    return "%s:%s" % (algo, hexa[:12]) if hexa else value


def row_note(row):
    notes = []
    if row["kind"] != "service":
        notes.append("one-shot" if row["kind"] == "oneshot" else "undeclared")
    if row["oom_killed"]:
        notes.append("OOM killed")
    if row.get("oom_events"):
        notes.append("OOM x%d" % row["oom_events"])
    if row.get("unwell"):
        notes.append("UNWELL")
    return ", ".join(notes)


def render_table(rows):
    """Header plus one line per row, columns left-aligned, "-" for an empty cell."""
    cells = [list(TABLE_COLUMNS)]
    for row in rows:
        cells.append([row["stack"], row["service"], row["state"], row["health"],
                      str(row["restarts"]), row["ports"], short_digest(row["digest"]), row_note(row)])
    cells = [[value if value != "" else "-" for value in line] for line in cells]
    widths = [max(len(line[i]) for line in cells) for i in range(len(TABLE_COLUMNS))]
    return ["  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip()
            for line in cells]


def check_stacks(stacks):
    """Error messages for a malformed ``stacks`` option; empty when it is fine."""
    errors = []
    seen = set()
    for stack in stacks:
        name = stack["name"]
        if not name:
            errors.append("a stack has an empty name")
        if name in seen:
            errors.append("stack %s is listed twice" % name)
        seen.add(name)
        both = set(stack.get("services") or []) & set(stack.get("oneshot") or [])
        if both:
            errors.append("stack %s: %s both in services and oneshot" % (name, ", ".join(sorted(both))))
    return errors


def count_ooms(events):
    """Container ID -> number of ``oom`` events, from Docker event dicts."""
    counts = {}
    for event in events:
        if event.get("Type", "container") == "container" and (event.get("Action") or event.get("status")) == "oom":
            cid = event.get("id") or (event.get("Actor") or {}).get("ID")
            counts[cid] = counts.get(cid, 0) + 1
    return counts


def oom_events(client, label, window=86400):
    """The ``oom`` events Docker still holds for the containers carrying ``label`` (the last ``window`` s).

    Written here because neither the SDK nor community.docker summarises events; dockerd keeps them in memory.
    """
    until = int(time.time())
    return list(client.api.events(since=until - window, until=until, decode=True,
                                  filters={"type": "container", "event": "oom", "label": label}))


def status(stacks, containers_of, image_of, ooms_of=None):
    """Result dict (without ``changed``).

    ``containers_of(stack name)`` returns the inspect dicts of the project's containers,
    ``image_of(image ID)`` the image's inspect dict or None, ``ooms_of(stack name)`` container ID -> number of
    ``oom`` events (None: not asked).
    """
    rows = []
    images = {}
    for stack in stacks:
        inspects = containers_of(stack["name"])
        for inspect in inspects:
            image_id = inspect.get("Image")
            if image_id and image_id not in images:
                images[image_id] = image_of(image_id)
        rows.extend(stack_rows(stack, inspects, images, ooms_of(stack["name"]) if ooms_of else None))
    unwell = ["%s/%s: %s" % (r["stack"], r["service"], ", ".join(r["unwell"])) for r in rows if r["unwell"]]
    undeclared = ["%s/%s: container %s, %s" % (r["stack"], r["service"], r["container"], r["state"])
                  for r in rows if r["kind"] == "undeclared"]
    return dict(services=rows, unwell=unwell, undeclared=undeclared, table=render_table(rows),
                stacks_checked=len(stacks))


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    params = module.params
    errors = check_stacks(params["stacks"])
    if errors:
        module.fail_json(msg="invalid stacks: " + "; ".join(errors))
    try:
        client = get_client(params["docker_host"])
        result = status(
            params["stacks"],
            lambda name: list_containers(client, label="%s=%s" % (PROJECT_LABEL, name), all=True),
            lambda image_id: inspect_image(client, image_id),
            lambda name: count_ooms(oom_events(client, "%s=%s" % (PROJECT_LABEL, name))))
    except DockerAccessError as exc:
        module.fail_json(msg=str(exc))

    for line in result["undeclared"]:
        module.warn("undeclared container in a stack: %s" % line)
    if result["unwell"] and params["fail_on_unwell"]:
        module.fail_json(msg="%d unwell service(s): %s" % (len(result["unwell"]), "; ".join(result["unwell"])),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
