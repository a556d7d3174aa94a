"""Inventory overrides any part of a stack's declaration (project_stack_overrides), nothing else moves."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_override_of_one_key_of_one_service_changes_only_that_key():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
               ANSIBLE_LOCAL_TEMP=str(ROOT / ".ansible" / "tmp"))
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")),
                           "-i", "localhost,", "-e", json.dumps({"ansible_python_interpreter": sys.executable}),
                           str(ROOT / "tests" / "playbooks" / "stack_override.yml")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    services = tasks[-1]["hosts"]["localhost"]["compose_stack_rendered.compose.services"]
    backend, frontend = services["api-backend"], services["api-frontend"]
    assert backend["mem_limit"] == "512m" and frontend["mem_limit"] == "128m"
    assert backend["environment"] == {"EXTRA": "1"}
    assert frontend["environment"]["API_BACKEND_URL"] == "api-backend"
    # The backend's port is published by the stack's proxy (proxy: http), at the declared address.
    assert "127.0.0.1:8001:8001" in services["api_pair-proxy"]["ports"] and backend["cap_drop"] == ["ALL"]
