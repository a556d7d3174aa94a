"""Unit tests of module_utils/labs_docker.py, and the fake Docker SDK client
that the module tests share (``from test_labs_docker import FakeDocker``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import docker.errors
import pytest

from ansible.module_utils import labs_docker

DATA = Path(__file__).parent / "data"


def load_inspect(name):
    """A real ``docker inspect`` document saved in tests/unit/data/inspect_<name>.json."""
    return json.loads((DATA / ("inspect_%s.json" % name)).read_text())


def load_stats(name):
    """A stats sample (``GET /containers/{id}/stats?stream=false``) in tests/unit/data/stats_<name>.json."""
    return json.loads((DATA / ("stats_%s.json" % name)).read_text())


class FakeContainer:
    """The part of ``docker.models.containers.Container`` that labs_docker uses."""

    def __init__(self, fake, inspect):
        self.fake = fake
        self.attrs = inspect
        self.id = inspect["Id"]

    def exec_run(self, cmd, **kwargs):
        self.fake.calls.append(("exec_run", self.attrs["Name"].lstrip("/"), list(cmd)))
        if isinstance(self.fake.exec_result, Exception):
            raise self.fake.exec_result
        return self.fake.exec_result

    def top(self):
        if self.fake.top_result is None:
            raise docker.errors.APIError("container is not running")
        return self.fake.top_result


class FakeAPI:
    """The part of ``docker.APIClient`` that labs_docker uses."""

    def __init__(self, fake):
        self.fake = fake

    def inspect_container(self, key):
        return self.fake.inspect(key)

    def containers(self, all=False, filters=None):
        self.fake.calls.append(("containers", all, filters))
        listed = self.fake.listed
        if self.fake.filter_labels:
            listed = [c for c in listed if self.fake.matches(c, all, filters)]
        return [{"Id": c["Id"]} for c in listed]

    def events(self, since=None, until=None, decode=False, filters=None):
        self.fake.calls.append(("events", filters))
        assert decode and since is not None and until is not None, "bounded, decoded event reads only"
        return iter(copy.deepcopy(getattr(self.fake, "events", [])))

    def inspect_image(self, image):
        self.fake.calls.append(("inspect_image", image))
        if isinstance(self.fake.images.get(image), Exception):
            raise self.fake.images[image]
        if image not in self.fake.images:
            raise docker.errors.ImageNotFound("No such image: %s" % image)
        return copy.deepcopy(self.fake.images[image])

    def stats(self, key, stream=True):
        assert stream is False, "labs_docker reads one sample, never the stream"
        name = self.fake.find(key)["Name"].lstrip("/")
        self.fake.calls.append(("stats", name))
        sample = self.fake.stats[name]
        if isinstance(sample, Exception):
            raise sample
        return copy.deepcopy(sample)


class FakeContainers:
    def __init__(self, fake):
        self.fake = fake

    def get(self, key):
        return FakeContainer(self.fake, self.fake.inspect(key))


class FakeDocker:
    """A ``docker.DockerClient`` stand-in over a few inspect documents.

    ``listed`` is what ``containers(filters=...)`` answers (the filter is
    recorded in ``calls``, not applied, unless ``filter_labels``: then the
    ``label`` filters and ``all`` are applied as the engine does).
    ``exec_result`` is what ``exec_run`` returns (or raises), ``top_result``
    what ``top()`` returns (None: raise). ``images`` maps an image ID or
    reference to its ``docker image inspect`` dict (or an exception to raise).
    ``stats`` maps container names to the stats sample ``stats(stream=False)``
    returns (or the exception it raises).
    """

    def __init__(self, inspects=(), listed=None, exec_result=(0, b""), top_result=None,
                 images=None, filter_labels=False, stats=None):
        self.inspects = [copy.deepcopy(i) for i in inspects]
        self.listed = self.inspects if listed is None else listed
        self.exec_result = exec_result
        self.top_result = top_result
        self.stats = dict(stats or {})
        self.images = dict(images or {})
        self.filter_labels = filter_labels
        self.calls = []
        self.api = FakeAPI(self)
        self.containers = FakeContainers(self)

    def find(self, key):
        for inspect in self.inspects:
            if key in (inspect["Name"].lstrip("/"), inspect["Id"]) or (
                    len(key) >= 12 and inspect["Id"].startswith(key)):
                return inspect
        raise docker.errors.NotFound("No such container: %s" % key)

    @staticmethod
    def matches(inspect, all, filters):
        if not all and not (inspect.get("State") or {}).get("Running"):
            return False
        wanted = (filters or {}).get("label") or []
        labels = (inspect.get("Config") or {}).get("Labels") or {}
        for label in [wanted] if isinstance(wanted, str) else wanted:
            key, sep, value = label.partition("=")
            if key not in labels or (sep and labels[key] != value):
                return False
        return True

    def inspect(self, key):
        self.calls.append(("inspect", key))
        return copy.deepcopy(self.find(key))


# --- client creation -------------------------------------------------------

def test_get_client_without_sdk_says_what_to_install(monkeypatch):
    monkeypatch.setattr(labs_docker, "HAS_DOCKER", False)
    monkeypatch.setattr(labs_docker, "DOCKER_IMPORT_ERROR", "ModuleNotFoundError: No module named 'docker'\n")
    with pytest.raises(labs_docker.DockerAccessError) as err:
        labs_docker.get_client()
    assert "Docker SDK for Python is required" in str(err.value)
    assert "No module named 'docker'" in str(err.value)


def test_get_client_unreachable_engine_names_the_host(tmp_path):
    host = "unix://%s/no-such-docker.sock" % tmp_path
    with pytest.raises(labs_docker.DockerAccessError) as err:
        labs_docker.get_client(host, timeout=2)
    assert "cannot reach the Docker engine at %s" % host in str(err.value)


# --- inspect and list ------------------------------------------------------

def test_inspect_container_by_name_and_missing():
    fake = FakeDocker([load_inspect("hardened")])
    assert labs_docker.inspect_container(fake, "labs-hardened")["Config"]["User"] == "65534:65534"
    with pytest.raises(labs_docker.DockerAccessError, match="no container named 'nope'"):
        labs_docker.inspect_container(fake, "nope")


def test_list_containers_filters_by_label_and_skips_vanished_ones():
    hardened, loose = load_inspect("hardened"), load_inspect("loose")
    gone = dict(load_inspect("crashy"), Id="f" * 64)  # listed, then removed before inspect
    fake = FakeDocker([hardened, loose], listed=[hardened, gone, loose])
    result = labs_docker.list_containers(fake, label="com.example.project=devops-labs")
    assert [labs_docker.container_name(i) for i in result] == ["labs-hardened", "labs-loose"]
    assert ("containers", False, {"label": "com.example.project=devops-labs"}) in fake.calls


def test_list_containers_without_label_lists_all_running():
    fake = FakeDocker([load_inspect("hardened")])
    labs_docker.list_containers(fake)
    assert ("containers", False, {}) in fake.calls


def test_fake_label_filter_is_opt_in_and_applies_all():
    hardened, crashy = load_inspect("hardened"), load_inspect("crashy")
    crashy["Config"]["Labels"] = {"com.example.project": "other"}
    stopped = load_inspect("privileged")  # created, not running
    fake = FakeDocker([hardened, crashy, stopped], filter_labels=True)
    names = lambda result: [labs_docker.container_name(i) for i in result]  # noqa: E731
    assert names(labs_docker.list_containers(fake, label="com.example.project=devops-labs")) == [
        "labs-hardened"]
    assert names(labs_docker.list_containers(fake, label="com.example.project=devops-labs",
                                             all=True)) == ["labs-hardened", "labs-privileged"]
    assert names(labs_docker.list_containers(fake, label="com.example.project=third", all=True)) == []
    assert names(labs_docker.list_containers(fake, label="com.example.project")) == [
        "labs-hardened", "labs-crashy"]
    assert names(labs_docker.list_containers(fake, all=True)) == [
        "labs-hardened", "labs-crashy", "labs-privileged"]


def test_inspect_image_found_missing_and_error():
    fake = FakeDocker(images={"sha256:abc": {"Id": "sha256:abc", "RepoDigests": ["x@sha256:1"]},
                              "sha256:bad": docker.errors.APIError("engine hiccup")})
    assert labs_docker.inspect_image(fake, "sha256:abc")["RepoDigests"] == ["x@sha256:1"]
    assert labs_docker.inspect_image(fake, "sha256:gone") is None
    with pytest.raises(labs_docker.DockerAccessError, match="cannot inspect image 'sha256:bad'"):
        labs_docker.inspect_image(fake, "sha256:bad")


# --- readers over real inspect documents ------------------------------------

def test_readers_on_a_running_healthy_container():
    inspect = load_inspect("hardened")
    assert labs_docker.container_name(inspect) == "labs-hardened"
    assert labs_docker.restart_count(inspect) == 0
    assert labs_docker.state_status(inspect) == "running"
    assert labs_docker.is_running(inspect)
    assert labs_docker.health_status(inspect) == "healthy"


def test_readers_on_a_restarted_container_without_healthcheck():
    inspect = load_inspect("crashy")
    assert labs_docker.restart_count(inspect) == 1
    assert labs_docker.health_status(inspect) is None


def test_readers_on_created_and_restarting_containers():
    created = load_inspect("privileged")
    assert labs_docker.state_status(created) == "created"
    assert not labs_docker.is_running(created)
    restarting = load_inspect("crashy")
    restarting["State"].update(Status="restarting", Restarting=True)
    assert not labs_docker.is_running(restarting)


# --- stats sample ----------------------------------------------------------

def test_stats_sample_reads_one_sample_by_name_or_id():
    inspect = load_inspect("hardened")
    fake = FakeDocker([inspect], stats={"labs-hardened": load_stats("v1")})
    assert labs_docker.stats_sample(fake, inspect["Id"])["memory_stats"]["limit"] == 67108864
    assert labs_docker.stats_sample(fake, "labs-hardened")["pids_stats"] == {"current": 2, "limit": 64}
    assert fake.calls.count(("stats", "labs-hardened")) == 2


def test_stats_sample_errors_name_the_container():
    fake = FakeDocker([load_inspect("hardened")],
                      stats={"labs-hardened": docker.errors.APIError("500 Server Error: cgroup gone")})
    with pytest.raises(labs_docker.DockerAccessError,
                       match="cannot read the stats of container 'labs-hardened': .*cgroup gone"):
        labs_docker.stats_sample(fake, "labs-hardened")
    with pytest.raises(labs_docker.DockerAccessError, match="no container named 'nope'"):
        labs_docker.stats_sample(fake, "nope")


def test_published_ports_configured_actual_and_both():
    loose = load_inspect("loose")  # -p 18082:8000: configured HostIp "", actual on 0.0.0.0 and ::
    assert labs_docker.published_ports(loose, actual=False) == {("8000/tcp", "0.0.0.0", "18082")}
    assert labs_docker.published_ports(loose, configured=False) == {
        ("8000/tcp", "0.0.0.0", "18082"), ("8000/tcp", "::", "18082")}
    assert labs_docker.published_ports(loose) == labs_docker.published_ports(loose, configured=False)
    created = load_inspect("privileged")  # never started: nothing actual
    assert labs_docker.published_ports(created, configured=False) == set()
    assert labs_docker.published_ports(created) == {("8000/tcp", "127.0.0.1", "18083")}


# --- PID 1 command line ----------------------------------------------------

def test_pid1_cmdline_from_proc_through_exec():
    fake = FakeDocker([load_inspect("crashy")],
                      exec_result=(0, b"/usr/bin/python3\0-m\0gunicorn\0app:app\0"))
    assert labs_docker.pid1_cmdline(fake, "labs-crashy") == "/usr/bin/python3 -m gunicorn app:app"
    assert ("exec_run", "labs-crashy", ["cat", "/proc/1/cmdline"]) in fake.calls


def test_pid1_cmdline_falls_back_to_top_when_image_has_no_cat():
    inspect = load_inspect("crashy")
    pid = str(inspect["State"]["Pid"])
    top = {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
           "Processes": [["root", "99999", pid, "0", "20:57", "?", "00:00:00", "httpd -f -p 8000"],
                         ["root", pid, "1", "0", "20:57", "?", "00:00:00", "/app/server --port 8000"]]}
    fake = FakeDocker([inspect], exec_result=(126, b"OCI runtime exec failed: cat: not found"),
                      top_result=top)
    assert labs_docker.pid1_cmdline(fake, "labs-crashy") == "/app/server --port 8000"
    fake.exec_result = docker.errors.APIError("exec failed")
    assert labs_docker.pid1_cmdline(fake, "labs-crashy") == "/app/server --port 8000"


def test_pid1_cmdline_none_when_nothing_answers():
    fake = FakeDocker([load_inspect("crashy")], exec_result=docker.errors.APIError("not running"))
    assert labs_docker.pid1_cmdline(fake, "labs-crashy") is None


def test_pid1_cmdline_missing_container():
    with pytest.raises(labs_docker.DockerAccessError, match="no container named"):
        labs_docker.pid1_cmdline(FakeDocker(), "nope")
