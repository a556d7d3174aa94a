"""Inventory overrides any part of a stack's declaration (project_stack_overrides), nothing else moves."""

from pathlib import Path

from ansible_json import run_playbook

ROOT = Path(__file__).resolve().parents[1]


def test_an_override_of_one_key_of_one_service_changes_only_that_key():
    _, report = run_playbook(ROOT / "tests" / "playbooks" / "stack_override.yml", timeout=300)
    tasks = report["plays"][0]["tasks"]
    services = tasks[-1]["hosts"]["localhost"]["compose_stack_rendered.compose.services"]
    backend, frontend = services["api-backend"], services["api-frontend"]
    assert backend["mem_limit"] == "512m" and frontend["mem_limit"] == "128m"
    assert backend["environment"] == {"EXTRA": "1"}
    assert frontend["environment"]["API_BACKEND_URL"] == "api-backend"
    # The backend's port is published by the stack's proxy (proxy: http), at the declared address.
    assert "127.0.0.1:8001:8001" in services["api_pair-proxy"]["ports"] and backend["cap_drop"] == ["ALL"]
