"""The registry role's htpasswd filter, and the pipeline's shape (stages, tags, Jenkinsfile)."""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
bcrypt = pytest.importorskip("bcrypt")


def _filter():
    path = ROOT / "roles" / "registry" / "filter_plugins" / "registry_htpasswd.py"
    spec = importlib.util.spec_from_file_location("registry_htpasswd_filter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()["registry_htpasswd"]


registry_htpasswd = _filter()


def test_new_entry_is_bcrypt_and_verifies():
    line = registry_htpasswd("", "labs", "s3cret-pass", rounds=4)
    user, hashed = line.rstrip("\n").split(":", 1)
    assert user == "labs" and line.endswith("\n")
    assert hashed.startswith("$2b$04$")
    assert bcrypt.checkpw(b"s3cret-pass", hashed.encode())


def test_entry_is_kept_while_it_verifies_so_a_second_run_changes_nothing():
    first = registry_htpasswd("", "labs", "pw", rounds=4)
    assert registry_htpasswd(first, "labs", "pw", rounds=4) == first
    # Apache's htpasswd -B writes $2y$: kept as well.
    apache = "labs:$2y$" + first.split("$2b$", 1)[1]
    assert registry_htpasswd(apache, "labs", "pw", rounds=4) == apache.rstrip("\n") + "\n"


def test_new_password_or_other_user_rewrites_the_entry():
    first = registry_htpasswd("", "labs", "old", rounds=4)
    second = registry_htpasswd(first, "labs", "new", rounds=4)
    assert second != first and bcrypt.checkpw(b"new", second.split(":", 1)[1].strip().encode())
    other = registry_htpasswd("someone:" + first.split(":", 1)[1], "labs", "old", rounds=4)
    assert other.startswith("labs:$2b$") and "someone" not in other


@pytest.mark.parametrize("user,password,rounds", [("", "pw", 4), ("a:b", "pw", 4), ("labs", "", 4), ("labs", "pw", 3)])
def test_bad_input_is_refused(user, password, rounds):
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError):
        registry_htpasswd("", user, password, rounds=rounds)


def _plays(name):
    return yaml.safe_load((ROOT / "playbooks" / name).read_text())


def test_pipeline_has_the_four_stages_and_imports_existing_stack_playbooks():
    plays = _plays("pipeline.yml")
    tags = [tag for play in plays for tag in play.get("tags", [])]
    for stage in ("build", "push", "deploy", "health"):
        assert stage in tags
    order = [play["tags"][0] for play in plays]
    assert order.index("build") < order.index("push") < order.index("deploy") < order.index("health")
    imports = {play["tags"][0]: play for play in plays if play.get("ansible.builtin.import_playbook")}
    assert sorted(imports) == ["deploy", "health", "prechecks"]
    assert order[0] == "prechecks" and imports["prechecks"]["ansible.builtin.import_playbook"] == "prechecks.yml"
    assert "always" in imports["prechecks"]["tags"]
    for stage, verb in (("deploy", "redeploy"), ("health", "checks")):
        assert imports[stage]["ansible.builtin.import_playbook"] == "stacks.yml"
        assert imports[stage]["vars"] == {"compose_stack_action": verb}
    stacks = yaml.safe_load((ROOT / "playbooks" / "stacks.yml").read_text())
    for play in stacks:
        assert (ROOT / "playbooks" / play["ansible.builtin.import_playbook"]).is_file()


def test_jenkinsfile_runs_each_stage_through_the_pipeline_playbook():
    text = (ROOT / "Jenkinsfile").read_text()
    stages = re.findall(r"stage\('([^']+)'\)", text)
    assert stages == ["Checkout", "Prechecks", "Build images", "Push", "Deploy", "Health check"]
    assert "parallel branches" in text
    assert "playbooks/pipeline.yml" in text
    assert "--tags prechecks" in text
    for tag in ("build", "push", "deploy", "health"):
        assert f"--skip-tags prechecks --tags {tag}" in text


def test_registry_playbooks_target_the_registry_group_then_its_clients():
    assert [play["hosts"] for play in _plays("registry.yml")] == ["registry", "docker_hosts:builders:!registry"]
    assert [play["hosts"] for play in _plays("registry_gc.yml")] == ["registry"]
