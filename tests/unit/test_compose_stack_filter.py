"""roles/compose_stack/filter_plugins/compose_stack.py: declaration -> Compose project."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "compose_stack"
SPEC = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["compose_stack_defaults"]
LABELS = {"io.devops-labs.project": "devops-labs"}

_spec = importlib.util.spec_from_file_location("compose_stack_filter", ROLE / "filter_plugins" / "compose_stack.py")
flt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flt)


def _stack(**services):
    return {
        "name": "demo",
        "services": services or {"web": {"image": "labs/web:latest", "networks": ["front"],
                                         "ports": ["127.0.0.1:8080:8080"]}},
        "networks": {"front": {}, "back": {"internal": True}},
        "volumes": {"demo_data": {}},
        "secrets": {"pw": {"value": "s3cret", "uid": 10001}},
        "configs": {"targets": {"content": "[]\n"}},
    }


def _render(definition):
    return flt.compose_project(definition, DEFAULTS, LABELS, SPEC)


def test_hardening_defaults_reach_every_service():
    svc = _render(_stack())["compose"]["services"]["web"]
    assert svc["cap_drop"] == ["ALL"]
    assert svc["read_only"] is True
    assert svc["security_opt"] == ["no-new-privileges:true"]
    assert svc["restart"] == "always"
    assert svc["mem_limit"] == "256m" and svc["pids_limit"] == 256
    assert svc["healthcheck"] == {"interval": "5s"}
    # Logs to the host's collector over UDP, never blocking the container; tagged <stack>/<container name>.
    assert svc["logging"]["driver"] == "syslog"
    assert svc["logging"]["options"]["syslog-address"].startswith("udp://127.0.0.1:")
    assert svc["logging"]["options"]["mode"] == "non-blocking"
    assert svc["container_name"] == "web"
    assert svc["labels"] == {"io.devops-labs.project": "devops-labs", "io.devops-labs.stack": "demo"}


def test_a_service_overrides_a_default_and_merges_healthcheck_and_labels():
    svc = _render(_stack(web={"image": "x", "mem_limit": "1g", "read_only": False,
                              "healthcheck": {"timeout": "2s"}, "labels": {"tier": "front"}}))
    web = svc["compose"]["services"]["web"]
    assert web["mem_limit"] == "1g" and web["read_only"] is False
    assert web["healthcheck"] == {"interval": "5s", "timeout": "2s"}
    assert web["labels"]["tier"] == "front" and web["labels"]["io.devops-labs.stack"] == "demo"


def test_types_follow_the_spec():
    web = _render(_stack(web={"image": "x", "cpus": "0.5", "pids_limit": "64",
                              "environment": {"PORT": 8001}}))["compose"]["services"]["web"]
    assert web["cpus"] == 0.5 and web["pids_limit"] == 64
    assert web["environment"] == {"PORT": "8001"}


def test_misspelt_key_names_stack_service_and_key_with_a_suggestion():
    with pytest.raises(AnsibleFilterError) as err:
        _render(_stack(web={"image": "x", "memroy": "1g"}))
    assert "stack demo, service web: unknown key 'memroy'" in str(err.value)
    assert "did you mean 'mem_limit'" not in str(err.value)  # too far from memroy: no guess
    problems = flt.stack_problems(_stack(web={"image": "x", "netwroks": ["front"]}), SPEC)
    assert problems == ["stack demo, service web: unknown key 'netwroks' (did you mean 'networks'?)"]


def test_missing_image_wrong_type_and_dangling_references_are_reported():
    problems = flt.stack_problems(_stack(web={"ports": "8080", "depends_on": {"db": "service_healthy"},
                                              "networks": ["nowhere"], "secrets": ["nope"]}), SPEC)
    text = "\n".join(problems)
    assert "stack demo, service web: missing required arguments: image" in text
    assert "depends_on names 'db'" in text
    assert "network 'nowhere' is not declared" in text
    assert "secret 'nope' is not declared" in text


def test_no_service_is_a_problem():
    assert flt.stack_problems({"name": "empty", "services": {}}, SPEC) == ["stack empty: declares no service"]


def test_networks_volumes_secrets_configs_keep_their_docker_names():
    assert "secrets" not in _render(_stack())["compose"]  # a secret no service mounts is not declared to Compose
    compose = _render(_stack(web={"image": "x", "secrets": ["pw"], "networks": ["front"]}))["compose"]
    assert compose["name"] == "demo"
    assert compose["networks"]["back"]["name"] == "back" and compose["networks"]["back"]["internal"] is True
    assert compose["networks"]["front"]["internal"] is False
    assert compose["volumes"]["demo_data"]["name"] == "demo_data"
    assert compose["volumes"]["demo_data"]["labels"]["io.devops-labs.stack"] == "demo"
    assert compose["secrets"] == {"pw": {"file": "./secrets/pw"}}
    assert compose["configs"] == {"targets": {"file": "./configs/targets"}}


def test_an_external_volume_is_used_not_owned():
    definition = _stack()
    definition["volumes"] = {"demo_data": {}, "other_output": {"external": True}}
    volumes = _render(definition)["compose"]["volumes"]
    assert volumes["other_output"] == {"name": "other_output", "external": True}
    assert "external" not in volumes["demo_data"]


def test_secret_and_config_files_with_owner_and_mode():
    files = {f["path"]: f for f in _render(_stack())["files"]}
    assert files["secrets/pw"] == {"path": "secrets/pw", "content": "s3cret", "owner": 10001, "mode": "0400"}
    assert files["configs/targets"]["mode"] == "0444" and files["configs/targets"]["owner"] == 0


def _revision(definition, service="web"):
    return _render(definition)["compose"]["services"][service]["labels"].get("io.devops-labs.config-revision")


def test_a_changed_secret_changes_the_revision_of_exactly_the_services_that_read_it():
    stack = _stack(web={"image": "x", "secrets": ["pw"]}, worker={"image": "y"})
    before_web, before_worker = _revision(stack), _revision(stack, "worker")
    assert before_web and before_worker is None
    stack["secrets"]["pw"]["value"] = "other"
    assert _revision(stack) != before_web
    assert _revision(stack, "worker") is None


def test_secret_env_goes_to_an_env_file_not_to_compose_yaml():
    out = _render(_stack(web={"image": "x", "secret_env": {"HTTP_SECRET": "pw"}}))
    web = out["compose"]["services"]["web"]
    assert web["env_file"] == ["./secrets/web.env"]
    assert "s3cret" not in yaml.safe_dump(out["compose"])
    env = {f["path"]: f for f in out["files"]}["secrets/web.env"]
    assert env["content"] == "HTTP_SECRET=s3cret\n" and env["mode"] == "0400"
    assert web["labels"]["io.devops-labs.config-revision"]


def test_depends_on_conditions_become_compose_long_syntax():
    out = _render(_stack(db={"image": "pg"}, web={"image": "x", "depends_on": {"db": "service_healthy"}}))
    assert out["compose"]["services"]["web"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert out["services"] == ["db", "web"] and out["oneshot"] == []


def test_oneshot_jobs_are_in_a_profile_with_restart_no_and_the_label():
    out = _render(_stack(web={"image": "x"}, job={"image": "x", "oneshot": True, "network_mode": "none",
                                                   "networks": ["front"]}))
    job = out["compose"]["services"]["job"]
    assert job["profiles"] == ["oneshot"] and job["restart"] == "no"
    assert job["healthcheck"] == {"disable": True}
    assert job["labels"]["io.devops-labs.oneshot"] == "true"
    assert "networks" not in job and job["network_mode"] == "none"
    assert "oneshot" not in job
    assert out["oneshot"] == ["job"] and out["services"] == ["web"]


def test_published_addresses():
    out = _render(_stack(web={"image": "x", "ports": ["127.0.0.1:8080:8080", "0.0.0.0:9090:9090", "7000:7000"]}))
    assert flt.addresses(out["published"], "203.0.113.5") == [
        "web 127.0.0.1:8080", "web 203.0.113.5:9090", "web 203.0.113.5:7000"]


def test_sysctls_and_network_driver_opts_pass_through_as_strings():
    definition = _stack(web={"image": "x", "networks": ["front", "back"],
                             "sysctls": {"net.ipv4.icmp_echo_ignore_all": 1}})
    definition["networks"]["back"]["driver_opts"] = {"com.docker.network.bridge.inhibit_ipv4": True}
    compose = _render(definition)["compose"]
    assert compose["services"]["web"]["sysctls"] == {"net.ipv4.icmp_echo_ignore_all": "1"}
    assert compose["networks"]["back"]["driver_opts"] == {"com.docker.network.bridge.inhibit_ipv4": "True"}
    assert "driver_opts" not in compose["networks"]["front"]
    assert flt.stack_problems(_stack(web={"image": "x", "sysctl": {}}), SPEC) == [
        "stack demo, service web: unknown key 'sysctl' (did you mean 'sysctls'?)"]


def test_every_real_stack_declaration_renders():
    """The declarations in the stack roles' defaults are valid (templated values replaced by placeholders)."""
    from ansible.parsing.yaml.objects import AnsibleUnicode  # noqa: F401  (ansible importable)
    found = 0
    for defaults in sorted((ROOT / "roles").glob("*/defaults/main.yml")):
        for key, value in (yaml.safe_load(defaults.read_text()) or {}).items():
            if key.endswith("_stack") and isinstance(value, dict) and "services" in value:
                problems = flt.stack_problems(value, SPEC)
                # Templated values are not rendered here ("{{ x }}" for a list or an int): only the keys count.
                assert [p for p in problems if "unknown key" in p or "missing required" in p] == [], \
                    f"{defaults}: {problems}"
                found += 1
    assert found >= 1


def test_outdated_services_are_those_whose_image_changed_or_that_are_missing():
    compose = {"api": {"image": "labs/api:latest"}, "web": {"image": "127.0.0.1:5001/labs/web"},
               "db": {"image": "labs/db:15"}}
    images = [{"Id": "sha256:new-api", "RepoTags": ["labs/api:latest", "labs/api:1.1"]},
              {"Id": "sha256:web", "RepoTags": ["127.0.0.1:5001/labs/web:latest"]},
              {"Id": "sha256:db", "RepoTags": ["labs/db:15"]}]
    containers = [
        {"ImageID": "sha256:old-api", "Labels": {"com.docker.compose.service": "api"}},
        {"ImageID": "sha256:web", "Labels": {"com.docker.compose.service": "web"}},
        {"ImageID": "sha256:old-db", "Labels": {"com.docker.compose.service": "db", "com.docker.compose.oneoff": "True"}},
    ]
    assert flt.outdated(["api", "web", "db"], compose, images, containers) == ["api", "db"]
    containers[0]["ImageID"] = "sha256:new-api"
    containers.append({"ImageID": "sha256:db", "Labels": {"com.docker.compose.service": "db"}})
    assert flt.outdated(["api", "web", "db"], compose, images, containers) == []


# --- deploy history (deployed.json) and rollback --------------------------------

COMPOSE = {"api": {"image": "labs/api:latest"}, "web": {"image": "labs/web:latest"}}


def _state(api, web):
    return {"api": {"image": "labs/api:latest", "id": api}, "web": {"image": "labs/web:latest", "id": web}}


def test_deployed_names_the_image_id_of_each_long_running_service():
    containers = [
        {"ImageID": "sha256:a1", "Labels": {"com.docker.compose.service": "api"}},
        {"ImageID": "sha256:w1", "Labels": {"com.docker.compose.service": "web"}},
        {"ImageID": "sha256:job", "Labels": {"com.docker.compose.service": "api", "com.docker.compose.oneoff": "True"}},
    ]
    assert flt.deployed(["api", "web"], COMPOSE, containers) == _state("sha256:a1", "sha256:w1")
    # A service without a container (not started yet) is not recorded.
    assert flt.deployed(["api", "web"], COMPOSE, containers[:1]) == {"api": {"image": "labs/api:latest", "id": "sha256:a1"}}


def test_history_appends_only_a_new_state_and_keeps_the_last_n():
    history = flt.history_add([], _state("a1", "w1"), "t1")
    assert history == [{"at": "t1", "services": _state("a1", "w1")}]
    assert flt.history_add(history, _state("a1", "w1"), "t2") == history  # same state: idempotent
    assert flt.history_add(history, {}, "t2") == history  # nothing running: nothing recorded
    for i in range(2, 8):
        history = flt.history_add(history, _state("a%d" % i, "w1"), "t%d" % i)
    assert [h["at"] for h in history] == ["t3", "t4", "t5", "t6", "t7"]


def test_rollback_back_goes_to_the_previous_deploy_and_drops_the_last():
    history = [{"at": "t1", "services": _state("a1", "w1")}, {"at": "t2", "services": _state("a2", "w2")}]
    plan = flt.rollback_plan(history, _state("a2", "w2"), "demo")
    assert plan["restore"] == _state("a1", "w1")
    assert plan["history"] == history[:1]


def test_rollback_back_of_one_service_keeps_the_others_current():
    history = [{"at": "t1", "services": _state("a1", "w1")}, {"at": "t2", "services": _state("a2", "w2")}]
    plan = flt.rollback_plan(history, _state("a2", "w2"), "demo", ["api"])
    assert plan["restore"] == {"api": {"image": "labs/api:latest", "id": "a1"}}
    assert plan["history"] == [{"at": "t1", "services": _state("a1", "w2")}]


def test_rollback_skips_services_already_on_the_target_image():
    history = [{"at": "t1", "services": _state("a1", "w1")}, {"at": "t2", "services": _state("a2", "w1")}]
    assert list(flt.rollback_plan(history, _state("a2", "w1"), "demo")["restore"]) == ["api"]


def test_restore_puts_only_the_named_services_back_on_the_last_good_deploy():
    history = [{"at": "t1", "services": _state("a1", "w1")}]
    plan = flt.rollback_plan(history, {}, "demo", ["web"], "restore")
    assert plan == {"restore": {"web": {"image": "labs/web:latest", "id": "w1"}}, "history": history}
    # No service named: nothing is restored (not the whole stack).
    assert flt.rollback_plan(history, {}, "demo", [], "restore")["restore"] == {}


@pytest.mark.parametrize("history, only, mode, message", [
    ([], [], "restore", "stack demo: no good deploy recorded"),
    ([{"at": "t1", "services": {}}], [], "back", "1 deploy(s) recorded in deployed.json, nothing earlier"),
    ([{"at": "t1", "services": {}}, {"at": "t2", "services": {}}], ["nope"], "back", "no recorded image for service(s) nope"),
    ([{"at": "t1", "services": {}}], [], "sideways", "mode must be back or restore"),
])
def test_rollback_refuses_with_a_clear_message(history, only, mode, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        flt.rollback_plan(history, {}, "demo", only, mode)


PROXY = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["compose_stack_proxy"]
PROXY = {**PROXY, "image": "labs/proxy:latest"}


def _proxied():
    return _stack(
        web={"image": "labs/web:latest", "networks": ["front"], "ports": ["127.0.0.1:8080:80"], "proxy": "http"},
        db={"image": "labs/db:latest", "networks": ["back"], "ports": ["127.0.0.1:5433:5432"], "proxy": "tcp"},
        raw={"image": "labs/raw:latest", "networks": ["front"], "ports": ["127.0.0.1:9000:9000"]})


def test_proxied_ports_move_to_one_proxy_service():
    out = flt.compose_project(_proxied(), DEFAULTS, LABELS, SPEC, PROXY)
    services = out["compose"]["services"]
    assert "ports" not in services["web"] and "ports" not in services["db"]
    assert "proxy" not in services["web"]
    assert services["raw"]["ports"] == ["127.0.0.1:9000:9000"]  # not proxied: published as declared
    proxy = services["demo-proxy"]
    assert proxy["image"] == "labs/proxy:latest"
    assert proxy["ports"] == ["127.0.0.1:8080:8080", "127.0.0.1:5433:5433"]
    assert proxy["networks"] == ["front", "back"]
    assert proxy["cap_drop"] == ["ALL"] and proxy["read_only"] is True  # hardened like every service
    assert proxy["configs"] == [{"source": "proxy.cfg", "target": "/etc/haproxy/haproxy.cfg"}]
    assert "io.devops-labs.config-revision" in proxy["labels"]
    assert "demo-proxy" in out["services"]
    # Where each service answers is unchanged: the address and port it declared, under its own name.
    assert {(p["service"], p["address"], p["port"]) for p in out["published"]} == {
        ("web", "127.0.0.1", "8080"), ("db", "127.0.0.1", "5433"), ("raw", "127.0.0.1", "9000")}
    config = next(f for f in out["files"] if f["path"] == "configs/proxy.cfg")["content"]
    assert "server web web:80" in config and "server db db:5432" in config
    assert "timeout http-request 5s" in config
    assert "disable-l7-retry if !METH_GET || { path_beg -i /traceback }" in config
    assert config.count("option http-server-close") == 1  # the http route only


def test_the_stack_overrides_the_proxy_settings():
    definition = {**_proxied(), "proxy": {"image": "labs/other-proxy:1", "http_request_timeout": "2s"}}
    out = flt.compose_project(definition, DEFAULTS, LABELS, SPEC, PROXY)
    assert out["compose"]["services"]["demo-proxy"]["image"] == "labs/other-proxy:1"
    config = next(f for f in out["files"] if f["path"] == "configs/proxy.cfg")["content"]
    assert "timeout http-request 2s" in config


def test_no_proxy_without_a_proxied_service():
    out = flt.compose_project(_stack(), DEFAULTS, LABELS, SPEC, PROXY)
    assert not [s for s in out["compose"]["services"] if s.endswith("-proxy")]
    assert not [f for f in out["files"] if f["path"] == "configs/proxy.cfg"]


def test_a_proxied_service_must_publish_and_have_a_network():
    problems = flt.stack_problems(_stack(web={"image": "labs/web:latest", "proxy": "http"}), SPEC)
    assert "stack demo, service web: proxy is set but the service publishes no port" in problems
    assert any("proxy needs the service on a network" in p for p in problems)
    problems = flt.stack_problems(_stack(web={"image": "x", "networks": ["front"], "ports": ["1:1"], "proxy": "udp"}),
                                  SPEC)
    assert any("proxy" in p and "udp" in p for p in problems)


# --- gate_failure: what the redeploy's health gate says failed (restore_failed.yml) ---

def _check_result(name, failed, **extra):
    return {"item": {"name": name, "url": "http://127.0.0.1:5000/list"}, "failed": failed, "changed": False, **extra}


def test_gate_failure_names_each_failed_check_with_its_reason_not_the_body():
    failed = {"failed": True, "msg": "One or more items failed", "results": [
        _check_result("the API answers the list", True, url="http://127.0.0.1:5000/list", attempts=11,
                      reason="json path student_ages not found",
                      msg="http://127.0.0.1:5000/list not healthy ...; body: {\"ages\": {\"Sara\": \"23\"}}\n"),
        _check_result("the API refuses anonymous requests", False),
        {"item": {"name": "skipped one", "url": "http://x/"}, "skipped": True},
        _check_result("the website answers", True, msg="connection refused"),
    ]}
    assert flt.gate_failure(failed, 40) == (
        "check the API answers the list failed (http://127.0.0.1:5000/list: json path student_ages not found, "
        "11 attempt(s)); check the website answers failed (http://127.0.0.1:5000/list: connection refused)")
    assert "Sara" not in flt.gate_failure(failed, 40)


def test_gate_failure_of_the_wait_says_not_healthy_within_the_timeout():
    failed = {"failed": True, "msg": "General error: container student-api is unhealthy\n" + "x" * 500}
    said = flt.gate_failure(failed, 40)
    assert said.startswith("not healthy within 40 s (General error: container student-api is unhealthy x")
    assert said.endswith("...)") and len(said) < 340
    assert flt.gate_failure({}, 120) == "not healthy within 120 s ()"


def test_gate_failure_of_a_loop_with_no_failed_item_falls_back_to_the_message():
    failed = {"failed": True, "msg": "templating error", "results": [_check_result("fine", False)]}
    assert flt.gate_failure(failed, 40) == "not healthy within 40 s (templating error)"
