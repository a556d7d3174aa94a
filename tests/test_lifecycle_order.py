"""playbooks/down.yml takes the stacks down in the reverse of the order stacks.yml (and site.yml) brings them up:
a later stack's containers join earlier stacks' networks, which Compose cannot remove while they are in use."""

from pathlib import Path

import yaml

PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"


def imported(name: str) -> list:
    return [play["ansible.builtin.import_playbook"] for play in yaml.safe_load((PLAYBOOKS / name).read_text())]


def test_down_is_the_reverse_of_up_and_every_play_is_a_down():
    up = imported("stacks.yml")
    assert len(up) >= 7 and "monitoring.yml" in up
    assert imported("down.yml") == list(reversed(up))
    plays = yaml.safe_load((PLAYBOOKS / "down.yml").read_text())
    assert all(play["vars"] == {"compose_stack_action": "down"} for play in plays)
