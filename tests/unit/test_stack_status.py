"""Unit tests of library/stack_status.py.

The containers are built from the real ``docker inspect`` document
tests/unit/data/inspect_hardened.json (running, healthy, 127.0.0.1:18081->8000/tcp),
relabelled as Compose containers and given the state each test needs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

import pytest

import stack_status
from stack_status import build_row, pick_digest, render_table, stack_rows, status

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from fakes import run_module  # noqa: E402
from test_labs_docker import FakeDocker, load_inspect  # noqa: E402

BASE = load_inspect("hardened")
IMAGE_ID = BASE["Image"]
DIGEST = "127.0.0.1:5001/labs/api_backend@sha256:" + "a" * 64
OTHER_DIGEST = "labs/api_backend@sha256:" + "b" * 64
IMAGES = {IMAGE_ID: {"Id": IMAGE_ID, "RepoDigests": [OTHER_DIGEST, DIGEST]}}


def compose(project, service, name=None, oneoff=False, created=None, image="127.0.0.1:5001/labs/api_backend:1.0.0",
            **state):
    """A Compose container of ``project``/``service`` (running and healthy unless ``state`` says otherwise)."""
    inspect = copy.deepcopy(BASE)
    name = name or service
    inspect["Name"] = "/" + name
    inspect["Id"] = hashlib.sha256(("%s/%s/%s" % (project, name, created)).encode()).hexdigest()
    inspect["Config"]["Image"] = image
    inspect["Config"]["Labels"] = {
        "com.docker.compose.project": project,
        "com.docker.compose.service": service,
        "com.docker.compose.oneoff": "True" if oneoff else "False",
    }
    if created:
        inspect["Created"] = created
    inspect["State"].update(state)
    return inspect


def exited(project, service, code, **kwargs):
    container = compose(project, service, Status="exited", Running=False, Pid=0, ExitCode=code,
                        FinishedAt="2026-11-21T21:00:00Z", **kwargs)
    del container["State"]["Health"]
    container["NetworkSettings"]["Ports"] = {}
    return container


def unhealthy(container, output="curl: (7) Failed to connect to 127.0.0.1 port 8000\nmore"):
    container["State"]["Health"]["Status"] = "unhealthy"
    container["State"]["Health"]["Log"][-1].update(ExitCode=1, Output=output)
    return container


def rows_of(stack, inspects, images=IMAGES):
    return {(r["service"], r["kind"]): r for r in stack_rows(stack, inspects, images)}


API = {"name": "api_pair", "services": ["api-backend", "api-frontend"], "oneshot": []}


# --- rows and reasons -------------------------------------------------------

def test_healthy_stack():
    rows = stack_rows(API, [compose("api_pair", "api-frontend"), compose("api_pair", "api-backend")], IMAGES)
    assert [(r["service"], r["state"], r["health"], r["unwell"]) for r in rows] == [
        ("api-backend", "running", "healthy", []), ("api-frontend", "running", "healthy", [])]
    backend = rows[0]
    assert backend == {
        "stack": "api_pair", "service": "api-backend", "kind": "service", "container": "api-backend",
        "state": "running", "health": "healthy", "restarts": 0, "ports": "127.0.0.1:18081->8000/tcp",
        "image": "127.0.0.1:5001/labs/api_backend:1.0.0", "image_id": IMAGE_ID, "digest": DIGEST,
        "started_at": "2026-11-21T20:57:42.504182294Z", "oom_killed": False, "oom_events": 0, "unwell": []}
    result = status([API], lambda name: [compose("api_pair", "api-frontend"), compose("api_pair", "api-backend")],
                    IMAGES.get)
    assert result["unwell"] == [] and result["undeclared"] == [] and result["stacks_checked"] == 1


def test_missing_service():
    rows = rows_of(API, [compose("api_pair", "api-backend")])
    frontend = rows[("api-frontend", "service")]
    assert frontend["state"] == "missing" and frontend["container"] == "" and frontend["health"] == ""
    assert frontend["unwell"] == ["missing (no container)"]
    assert rows[("api-backend", "service")]["unwell"] == []


def test_unhealthy_names_the_last_check():
    rows = rows_of(API, [unhealthy(compose("api_pair", "api-backend")), compose("api_pair", "api-frontend")])
    backend = rows[("api-backend", "service")]
    assert backend["health"] == "unhealthy"
    assert backend["unwell"] == ["unhealthy (last check exit 1: curl: (7) Failed to connect to 127.0.0.1 port 8000)"]


def test_starting():
    container = compose("api_pair", "api-backend")
    container["State"]["Health"].update(Status="starting", Log=[])
    rows = rows_of(API, [container, compose("api_pair", "api-frontend")])
    assert rows[("api-backend", "service")]["health"] == "starting"
    assert rows[("api-backend", "service")]["unwell"] == ["health check still starting"]


def test_restarting():
    container = compose("api_pair", "api-backend", Status="restarting", Restarting=True)
    container["RestartCount"] = 7
    row = rows_of(API, [container])[("api-backend", "service")]
    assert (row["state"], row["restarts"]) == ("restarting", 7)
    assert row["unwell"] == ["restarting (7 restarts)"]


def test_exited_service_and_oom_killed():
    container = exited("api_pair", "api-backend", 137, OOMKilled=True)
    row = rows_of(API, [container, compose("api_pair", "api-frontend")])[("api-backend", "service")]
    assert row["state"] == "exited (code 137)" and row["oom_killed"] is True and row["health"] == "none"
    assert row["ports"] == "127.0.0.1:18081->8000/tcp"  # configured binding of a stopped container
    assert row["unwell"] == ["not running (exited (code 137))", "OOM killed"]


def test_oom_killed_while_running_again_is_well_and_noted():
    row = rows_of(API, [compose("api_pair", "api-backend", OOMKilled=True)])[("api-backend", "service")]
    assert row["state"] == "running" and row["unwell"] == []
    assert "OOM killed" in stack_status.row_note(row)


ETL = {"name": "etl", "services": ["etl-postgres"], "oneshot": ["etl-load"]}


def test_oneshot_never_run_is_fine():
    row = rows_of(ETL, [compose("etl", "etl-postgres")])[("etl-load", "oneshot")]
    assert row["state"] == "never run" and row["unwell"] == [] and row["container"] == ""


@pytest.mark.parametrize("code, unwell", [(0, []), (1, ["last run exited (code 1)"])])
def test_oneshot_exit_code(code, unwell):
    row = rows_of(ETL, [compose("etl", "etl-postgres"), exited("etl", "etl-load", code)])[("etl-load", "oneshot")]
    assert row["state"] == "exited (code %d)" % code
    assert row["unwell"] == unwell


def test_oneshot_several_runs_newest_wins():
    # Docker trims trailing zeros of the nanoseconds: ".51Z" is later than ".5Z" though it sorts first as text.
    runs = [
        exited("etl", "etl-load", 1, name="etl-etl-load-run-aaa", oneoff=True, created="2026-11-21T21:00:00.5Z"),
        exited("etl", "etl-load", 0, name="etl-etl-load-run-bbb", oneoff=True, created="2026-11-21T21:00:00.51Z"),
        exited("etl", "etl-load", 2, name="etl-load", created="2026-11-21T20:59:59.999999999Z"),
    ]
    row = rows_of(ETL, runs + [compose("etl", "etl-postgres")])[("etl-load", "oneshot")]
    assert (row["container"], row["state"], row["unwell"]) == ("etl-etl-load-run-bbb", "exited (code 0)", [])
    runs.append(exited("etl", "etl-load", 3, name="etl-load-later", created="2026-11-21T21:00:01Z"))
    row = rows_of(ETL, runs)[("etl-load", "oneshot")]
    assert (row["container"], row["unwell"]) == ("etl-load-later", ["last run exited (code 3)"])


def test_created_key_timezones_and_garbage():
    key = stack_status.created_key
    assert key({"Created": "2026-11-21T22:00:00+01:00"})[1] == key({"Created": "2026-11-21T21:00:00Z"})[1]
    assert key({"Created": "garbage"}) < key({"Created": "1970-01-01T00:00:00Z"})


def test_oneoff_runs_of_a_long_running_service_are_ignored():
    debug = exited("api_pair", "api-backend", 1, name="api_pair-api-backend-run-1", oneoff=True)
    rows = stack_rows(API, [debug, compose("api_pair", "api-backend"), compose("api_pair", "api-frontend")], IMAGES)
    assert [r["container"] for r in rows] == ["api-backend", "api-frontend"]
    assert [r["unwell"] for r in rows] == [[], []]


def test_undeclared_container_is_reported_not_unwell():
    stray = exited("api_pair", "debug-shell", 1)
    result = status([API], lambda name: [compose("api_pair", "api-backend"), compose("api_pair", "api-frontend"),
                                         stray], IMAGES.get)
    assert result["unwell"] == []
    assert result["undeclared"] == ["api_pair/debug-shell: container debug-shell, exited (code 1)"]
    assert [(r["service"], r["kind"]) for r in result["services"]][-1] == ("debug-shell", "undeclared")


def test_scaled_service_has_one_row_per_container():
    rows = stack_rows({"name": "api_pair", "services": ["api-backend"]},
                      [compose("api_pair", "api-backend", name="api_pair-api-backend-2", Status="exited"),
                       compose("api_pair", "api-backend", name="api_pair-api-backend-1")], IMAGES)
    assert [(r["container"], bool(r["unwell"])) for r in rows] == [
        ("api_pair-api-backend-1", False), ("api_pair-api-backend-2", True)]


# --- digest and ports -------------------------------------------------------

@pytest.mark.parametrize("image, digests, expected", [
    ("127.0.0.1:5001/labs/etl:1.0.0", ["labs/etl@sha256:1", "127.0.0.1:5001/labs/etl@sha256:2"],
     "127.0.0.1:5001/labs/etl@sha256:2"),
    ("labs/etl:1.0.0", ["127.0.0.1:5001/labs/etl@sha256:2", "labs/etl@sha256:1"], "labs/etl@sha256:1"),
    ("labs/etl", ["127.0.0.1:5001/labs/etl@sha256:2"], "127.0.0.1:5001/labs/etl@sha256:2"),  # first
    ("labs/etl:1.0.0", [], ""),
    ("labs/etl:1.0.0", None, ""),
    ("docker.io/library/debian:bookworm", ["other@sha256:9", "debian@sha256:3"], "debian@sha256:3"),
    ("localhost:5000/x@sha256:4", ["y@sha256:5", "localhost:5000/x@sha256:4"], "localhost:5000/x@sha256:4"),
    ("localhost:5000/x", ["localhost:5000/xy@sha256:6", "localhost:5000/x@sha256:7"], "localhost:5000/x@sha256:7"),
])
def test_pick_digest(image, digests, expected):
    assert pick_digest(image, digests) == expected


def test_image_unknown_to_the_engine_gives_no_digest():
    row = build_row("api_pair", "api-backend", "service", compose("api_pair", "api-backend"), None)
    assert row["digest"] == "" and row["image_id"] == IMAGE_ID


def test_ports_actual_sorted_ipv6_and_random_host_port():
    container = compose("api_pair", "api-frontend")
    container["NetworkSettings"]["Ports"] = {
        "9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "19000"}],
        "8000/tcp": [{"HostIp": "::", "HostPort": "18080"}, {"HostIp": "0.0.0.0", "HostPort": "18080"}],
        "8125/udp": None,  # exposed, not published
    }
    row = build_row("api_pair", "api-frontend", "service", container)
    assert row["ports"] == "0.0.0.0:18080->8000/tcp, [::]:18080->8000/tcp, 127.0.0.1:19000->9000/tcp"
    container = exited("api_pair", "api-frontend", 0)
    container["HostConfig"]["PortBindings"] = {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert build_row("api_pair", "api-frontend", "service", container)["ports"] == "0.0.0.0:*->8000/tcp"


# --- table ------------------------------------------------------------------

def test_table_columns_are_aligned():
    rows = stack_rows(ETL, [unhealthy(compose("etl", "etl-postgres")), exited("etl", "etl-load", 1),
                            exited("etl", "x", 0)], IMAGES)
    rows += stack_rows(API, [], IMAGES)
    table = render_table(rows)
    assert len(table) == 1 + len(rows) == 6
    header = table[0]
    assert header.split() == ["STACK", "SERVICE", "STATE", "HEALTH", "RESTARTS", "PORTS", "DIGEST", "NOTE"]
    starts = [header.index(column) for column in header.split()]
    expected = [
        ["etl", "etl-postgres", "running", "unhealthy", "0", "127.0.0.1:18081->8000/tcp",
         "sha256:aaaaaaaaaaaa", "UNWELL"],
        ["etl", "etl-load", "exited (code 1)", "none", "0", "127.0.0.1:18081->8000/tcp",
         "sha256:aaaaaaaaaaaa", "one-shot, UNWELL"],
        ["etl", "x", "exited (code 0)", "none", "0", "127.0.0.1:18081->8000/tcp", "sha256:aaaaaaaaaaaa",
         "undeclared"],
        ["api_pair", "api-backend", "missing", "-", "0", "-", "-", "UNWELL"],
        ["api_pair", "api-frontend", "missing", "-", "0", "-", "-", "UNWELL"],
    ]
    for line, cells in zip(table[1:], expected):
        for start, end, cell in zip(starts, starts[1:] + [None], cells):
            assert line[start:end].rstrip() == cell, (line, cell)
        assert line == line.rstrip()
    assert all(line[start - 2:start] == "  " for line in table for start in starts[1:])


# --- main() against a fake engine ----------------------------------------------

STACKS = [dict(API), dict(ETL)]


def fake_engine(monkeypatch, inspects, images=IMAGES):
    fake = FakeDocker(inspects, images=images, filter_labels=True)
    monkeypatch.setattr(stack_status, "get_client", lambda docker_host: fake)
    return fake


def healthy_host():
    return [compose("api_pair", "api-backend"), compose("api_pair", "api-frontend"),
            compose("etl", "etl-postgres"), exited("etl", "etl-load", 0),
            compose("unrelated", "api-backend", name="someone-else")]


def test_main_all_well(monkeypatch):
    fake = fake_engine(monkeypatch, healthy_host())
    result = run_module(stack_status, dict(stacks=STACKS), check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] is False and result["stacks_checked"] == 2
    assert [(r["stack"], r["service"], r["state"]) for r in result["services"]] == [
        ("api_pair", "api-backend", "running"), ("api_pair", "api-frontend", "running"),
        ("etl", "etl-postgres", "running"), ("etl", "etl-load", "exited (code 0)")]
    assert ("containers", True, {"label": "com.docker.compose.project=api_pair"}) in fake.calls
    assert ("containers", True, {"label": "com.docker.compose.project=etl"}) in fake.calls
    assert [c for c in fake.calls if c[0] == "inspect_image"] == [("inspect_image", IMAGE_ID)]  # cached
    assert len(result["table"]) == 5 and result["unwell"] == [] and result["undeclared"] == []


def unwell_host():
    inspects = healthy_host()
    inspects[1] = unhealthy(inspects[1], output="")
    inspects[3] = exited("etl", "etl-load", 1)
    del inspects[2]  # etl-postgres missing
    inspects.append(compose("etl", "adminer"))
    return inspects


def test_main_fails_naming_every_unwell_service_and_still_reports(monkeypatch, capfd):
    fake_engine(monkeypatch, unwell_host())
    result = run_module(stack_status, dict(stacks=STACKS))
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("3 unwell service(s): api_pair/api-frontend: unhealthy (last check exit 1); "
                             "etl/etl-postgres: missing (no container); etl/etl-load: last run exited (code 1)")
    assert result["unwell"] == result["msg"].split(": ", 1)[1].split("; ")
    assert result["undeclared"] == ["etl/adminer: container adminer, running"]
    assert len(result["services"]) == 5 and len(result["table"]) == 6
    # ansible-core 2.19 returns warnings as structured events in the result; once the controller side
    # of ansible is imported in the same process (another test did), Display prints them instead.
    warned = json.dumps(result.get("warnings", [])) + capfd.readouterr().err
    assert "undeclared container in a stack: etl/adminer: container adminer, running" in warned


def test_main_fail_on_unwell_false_reports_without_failing(monkeypatch):
    fake_engine(monkeypatch, unwell_host())
    result = run_module(stack_status, dict(stacks=STACKS, fail_on_unwell=False))
    assert not result.get("failed"), result
    assert len(result["unwell"]) == 3 and result["table"][0].startswith("STACK")


@pytest.mark.parametrize("stacks, message", [
    ([{"name": "a"}, {"name": "a"}], "invalid stacks: stack a is listed twice"),
    ([{"name": "a", "services": ["x"], "oneshot": ["x", "y"]}], "stack a: x both in services and oneshot"),
    ([{"services": ["x"]}], "missing required arguments: name"),
    ([{"name": "a", "service": ["x"]}], "Unsupported parameters"),
])
def test_main_rejects_bad_stacks(monkeypatch, stacks, message):
    fake_engine(monkeypatch, [])
    result = run_module(stack_status, dict(stacks=stacks))
    assert result["failed"] and message in result["msg"], result["msg"]


def test_main_engine_unreachable(monkeypatch):
    def unreachable(docker_host):
        raise stack_status.DockerAccessError("cannot reach the Docker engine at %s" % docker_host)
    monkeypatch.setattr(stack_status, "get_client", unreachable)
    result = run_module(stack_status, dict(stacks=STACKS, docker_host="tcp://127.0.0.1:1"))
    assert result["failed"] and result["msg"] == "cannot reach the Docker engine at tcp://127.0.0.1:1"


def test_inspect_data_is_not_modified():
    inspects = unwell_host()
    before = copy.deepcopy(inspects)
    status(STACKS, lambda name: [i for i in inspects
                                 if i["Config"]["Labels"]["com.docker.compose.project"] == name], IMAGES.get)
    assert inspects == before


# --- OOM kills that the restart policy already repaired ----------------------------

def test_count_ooms_counts_only_container_oom_events():
    events = [{"Type": "container", "Action": "oom", "id": "c1"}, {"Type": "container", "Action": "oom", "id": "c1"},
              {"Type": "container", "Action": "die", "id": "c1"}, {"status": "oom", "id": "c2"},
              {"Type": "network", "Action": "oom", "id": "n1"}]
    assert stack_status.count_ooms(events) == {"c1": 2, "c2": 1}


def test_a_restarted_oom_killed_service_is_well_but_noted():
    backend = compose("api_pair", "api-backend")
    backend["RestartCount"] = 1
    rows = stack_rows(API, [compose("api_pair", "api-frontend"), backend], IMAGES, {backend["Id"]: 1})
    row = {r["service"]: r for r in rows}["api-backend"]
    assert row["oom_events"] == 1 and row["oom_killed"] is False and row["unwell"] == []
    table = render_table(rows)
    assert "OOM x1" in [line for line in table if line.split()[1] == "api-backend"][0]
    assert "OOM" not in [line for line in table if line.split()[1] == "api-frontend"][0]


def test_main_reads_the_oom_events_of_each_stack(monkeypatch):
    inspects = healthy_host()
    fake = fake_engine(monkeypatch, inspects)
    fake.events = [{"Type": "container", "Action": "oom", "id": inspects[0]["Id"]}]
    result = run_module(stack_status, dict(stacks=[dict(API)], fail_on_unwell=False))
    assert ("events", {"type": "container", "event": "oom", "label": "com.docker.compose.project=api_pair"}) in fake.calls
    assert {r["service"]: r["oom_events"] for r in result["services"]} == {"api-backend": 1, "api-frontend": 0}
