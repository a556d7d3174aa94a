"""docker_engine's upstream (Docker CE) path, as far as it can run without Docker's repository.

Docker's repository is out of reach from CI, so a local HTTP server stands in for it (it serves the
signing key), and the role's upstream tasks run in check mode: nothing on this machine changes, and we
read the deb822 source the module would write, where the key would go, and the package list apt is asked for.
"""

import http.server
import sys
import threading
from pathlib import Path

import pytest
from ansible_json import by_task, run_playbook

ROOT = Path(__file__).resolve().parents[1]
FAKE_KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBFit2ioBEADhWpZ8/wvZ6hUTiXOwQHXMAlaFHcPH9hAtr4F1y2+OYdbtMuth\n-----END PGP PUBLIC KEY BLOCK-----\n"


@pytest.fixture(scope="module")
def fake_repo():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path in ("/linux/debian/gpg", "/linux/ubuntu/gpg"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(FAKE_KEY)))
                self.end_headers()
                self.wfile.write(FAKE_KEY)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/linux"
    server.shutdown()


def run_check_mode(playbook: str, extra_vars: dict) -> tuple[int, dict]:
    return run_playbook(ROOT / "tests" / "playbooks" / playbook, "--check", "--diff", extra_vars=extra_vars,
                        check=False, timeout=300)


def task_results(report: dict) -> dict:
    """Results on localhost by task name."""
    return {name: hosts["localhost"] for name, hosts in by_task(report).items()}


def test_upstream_source_key_and_packages(fake_repo):
    rc, report = run_check_mode("docker_engine_upstream.yml", {
        "ansible_python_interpreter": sys.executable,
        "docker_engine_upstream_url": fake_repo,
        "docker_engine_upstream_version": "5:27.3.1-1~debian.12~bookworm",
    })
    tasks = task_results(report)
    repo = tasks["Add Docker's apt repository (deb822, key in /etc/apt/keyrings)"]
    assert repo["key_filename"] == "/etc/apt/keyrings/docker.asc"
    assert repo["dest"] == "/etc/apt/sources.list.d/docker.sources"
    lines = repo["repo"].splitlines()
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in lines
    assert f"URIs: {fake_repo}/debian" in lines
    assert "Components: stable" in lines
    assert any(line.startswith("Suites: ") and line != "Suites: " for line in lines)
    assert not Path("/etc/apt/sources.list.d/docker.sources").exists(), "check mode must not write the source"
    stale = tasks["Remove stale Docker apt sources and keys left by other installers"]
    assert any(r["path"] == "/etc/apt/keyrings/docker.gpg" for r in stale["results"])
    # Docker's packages are not in this machine's apt lists (the repository was never really added), so apt
    # fails here; what matters is what it was asked for: the pinned CLI and engine, the plugins, and Compose held
    # to the tested 2.x line (Docker's repository also carries Compose 5, which this project does not test).
    install = tasks["Install Docker CE"]
    assert rc != 0 and install.get("failed")
    assert "No package matching 'docker-ce'" in install["msg"]
    assert install["invocation"]["module_args"]["name"] == [
        "docker-ce=5:27.3.1-1~debian.12~bookworm", "docker-ce-cli=5:27.3.1-1~debian.12~bookworm",
        "containerd.io", "docker-buildx-plugin", "docker-compose-plugin=2.*"]


def test_upstream_on_ubuntu_uses_docker_s_ubuntu_repository(fake_repo):
    """Ubuntu's branch of the upstream path: Docker's ubuntu/ tree, the release's codename as the suite, the same
    keyring and packages (the stand-in repository serves linux/ubuntu/gpg; the host carries Ubuntu 24.04's facts)."""
    rc, report = run_check_mode("docker_engine_upstream.yml", {
        "ansible_python_interpreter": sys.executable,
        "docker_engine_upstream_url": fake_repo,
        "stand_in": {"distribution": "Ubuntu", "distribution_release": "noble", "distribution_major_version": "24"},
    })
    tasks = task_results(report)
    repo = tasks["Add Docker's apt repository (deb822, key in /etc/apt/keyrings)"]
    lines = repo["repo"].splitlines()
    assert f"URIs: {fake_repo}/ubuntu" in lines
    assert "Suites: noble" in lines
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in lines
    install = tasks["Install Docker CE"]
    assert rc != 0 and install.get("failed")
    assert install["invocation"]["module_args"]["name"] == [
        "docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin", "docker-compose-plugin=2.*"]


def test_unknown_source_is_refused():
    rc, report = run_check_mode("docker_engine_validate.yml", {"docker_engine_source": "snap"})
    assert rc != 0
    failures = [r for t in task_results(report).values() for r in [t] if r.get("failed")]
    assert failures and "docker_engine_source" in failures[0]["msg"] and "snap" in failures[0]["msg"]
