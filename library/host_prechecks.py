#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module host_prechecks: what must hold on a Docker host before anything changes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_prechecks
short_description: Check a Docker host before a run changes anything (ports, disk, versions, registry)
description:
  - Reads the host and returns every problem found as one line each, saying what is wrong, where (stack,
    service, variable, path) and how to fix it; fails (unless O(fail_on_problems=false)) when there is one.
  - "Published ports: each entry of O(ports) is parsed as Compose does (C(addr:host:container),
    C(host:container), an optional C(/proto)); a port outside 1-65535, an address that is not an IP, two
    services publishing the same address and port, and a port another process listens on are problems.
    The listening process is found from C(/proc/net/tcp), C(/proc/net/tcp6) and the socket inodes of
    C(/proc/*/fd) (no extra dependency) and is named. A port held by C(docker-proxy) for a container that
    carries O(project_label) (and, when the container says, the same stack) is the project's own: not a problem."
  - "Disk: free bytes (for an unprivileged user) on the file system of each O(disk) path (the nearest existing
    parent when the path does not exist yet), and under Docker's data root (C(docker info)) with
    O(docker_data_root_min_free)."
  - "Versions: Docker Engine (server, C(docker version)) at least O(docker_min_version); Compose v2 (C(docker compose version))
    in [O(compose_min_version), O(compose_max_version)). When Docker is not installed on the host yet, the
    version and data root checks are skipped with a note (site.yml installs Docker first)."
  - "Registry: C(GET /v2/) of O(registry_url) with the credentials must answer 200."
  - Asks Docker through the C(docker) command (C(docker version), C(docker compose version), C(docker info),
    C(docker ps --filter publish=PORT)), so the Docker SDK for Python is not needed; shares its HTTP client
    (C(module_utils/labs_http.py)) with the other modules of the project.
version_added: "1.0.0"
author: devops-labs
extends_documentation_fragment:
  - labs
  - labs.read_only
  - labs.docker
  - labs.tls
options:
  ports:
    description:
      - The published ports the run wants on this host.
    type: list
    elements: dict
    default: []
    suboptions:
      published:
        description: The Compose port entry, e.g. C(127.0.0.1:8080:8080).
        type: str
        required: true
      stack:
        description: The stack that publishes it.
        type: str
        default: ""
      service:
        description: The service that publishes it.
        type: str
        default: ""
      variable:
        description: Where it is set (named in the messages), e.g. C(student_app_stack.services.student-website.ports).
        type: str
        default: ""
  project_label:
    description:
      - The label (C(key=value)) of the project's containers; a port one of them publishes is not a problem.
    type: str
    default: io.devops-labs.project=devops-labs
  disk:
    description:
      - Paths and the free space the run needs there.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: A directory (it may not exist yet).
        type: path
        required: true
      min_free:
        description: Free space needed, in bytes or with a unit (C(200M), C(5G)).
        type: str
        required: true
      what:
        description: What the space is for, in the message.
        type: str
        default: ""
      variable:
        description: The variable that sets O(disk[].min_free), named in the message.
        type: str
        default: ""
  docker_data_root_min_free:
    description:
      - Free space needed under Docker's data root (images, volumes), in bytes or with a unit; V(0) skips it.
    type: str
    default: "0"
  docker_data_root_variable:
    description: The variable that sets O(docker_data_root_min_free), named in the message.
    type: str
    default: docker_data_root_min_free
  docker_min_version:
    description: Lowest Docker Engine version; empty skips the check.
    type: str
    default: ""
  compose_min_version:
    description: Lowest Compose v2 version; empty skips the Compose check.
    type: str
    default: ""
  compose_max_version:
    description: First Compose version that is too new; empty means no upper bound.
    type: str
    default: ""
  registry_url:
    description: The registry (C(http(s)://host:port)) that must answer C(GET /v2/) with 200; empty skips it.
    type: str
    default: ""
  registry_username:
    description: User of the registry.
    type: str
  registry_password:
    description: Password of O(registry_username).
    type: str
  timeout:
    description: Seconds to wait for the registry and the Docker engine.
    type: float
    default: 5
  fail_on_problems:
    description: Fail when a problem is found (the problems are returned either way).
    type: bool
    default: true
notes:
  - Ports are read in the module's network namespace (the host's); a listener on C(0.0.0.0) or C(::) collides
    with every address of the same port.
"""

EXAMPLES = r"""
- name: Check the host before anything changes
  host_prechecks:
    ports:
      - published: 127.0.0.1:8080:8080
        stack: student
        service: student-website
        variable: student_app_stack.services.student-website.ports
    disk:
      - path: /opt/devops-labs
        min_free: 200M
        what: the stacks' directory
        variable: prechecks_stacks_dir_min_free
    docker_data_root_min_free: 5G
    docker_min_version: "20.10.0"
    compose_min_version: "2.18.0"
    compose_max_version: "3.0.0"
    registry_url: http://127.0.0.1:5001
    registry_username: labs
    registry_password: "{{ registry_password }}"
  register: prechecks_result
"""

RETURN = r"""
problems:
  description: One line per problem - what is wrong, where, how to fix it.
  returned: always
  type: list
  elements: str
  sample: ["port 127.0.0.1:8080 (stack student, service student-website) is taken by python3 (pid 4242): stop it, or change student_app_stack.services.student-website.ports"]
notes:
  description: Checks that were skipped, and why.
  returned: always
  type: list
  elements: str
  sample: ["Docker is not installed yet: engine and Compose versions not checked (site.yml installs them)"]
listeners:
  description: The TCP listeners of the host that collide with a wanted port, with their process.
  returned: always
  type: list
  elements: dict
  sample: [{"address": "127.0.0.1", "port": 8080, "process": "docker-proxy", "pid": 5791, "project": true}]
docker_version:
  description: Version of the Docker Engine (server); empty when not known.
  returned: always
  type: str
  sample: "20.10.24"
compose_version:
  description: Version of Compose v2; empty when not known.
  returned: always
  type: str
  sample: "2.26.1"
"""

import ipaddress
import os
import re
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.formatters import bytes_to_human, human_to_bytes
from ansible.module_utils.labs_docker import docker_argument_spec
from ansible.module_utils.labs_http import HttpError, request, tls_argument_spec

ARGUMENT_SPEC = dict(
    ports=dict(type="list", elements="dict", default=[], options=dict(
        published=dict(type="str", required=True),
        stack=dict(type="str", default=""),
        service=dict(type="str", default=""),
        variable=dict(type="str", default=""),
    )),
    project_label=dict(type="str", default="io.devops-labs.project=devops-labs"),
    disk=dict(type="list", elements="dict", default=[], options=dict(
        path=dict(type="path", required=True),
        min_free=dict(type="str", required=True),
        what=dict(type="str", default=""),
        variable=dict(type="str", default=""),
    )),
    docker_data_root_min_free=dict(type="str", default="0"),
    docker_data_root_variable=dict(type="str", default="docker_data_root_min_free"),
    docker_min_version=dict(type="str", default=""),
    compose_min_version=dict(type="str", default=""),
    compose_max_version=dict(type="str", default=""),
    registry_url=dict(type="str", default=""),
    registry_username=dict(type="str"),
    registry_password=dict(type="str", no_log=True),
    timeout=dict(type="float", default=5),
    fail_on_problems=dict(type="bool", default=True),
    **docker_argument_spec(),
    **tls_argument_spec(),
)

TCP_LISTEN = "0A"
WILDCARDS = ("0.0.0.0", "::")


# ---------------------------------------------------------------- listeners (/proc, no dependency)

def _hex_address(text):
    """'0100007F' -> '127.0.0.1'; 32 hex digits -> an IPv6 address (each 32-bit word little-endian)."""
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def tcp_listeners(proc="/proc"):
    """[{address, port, inode}] of the listening TCP sockets of this network namespace."""
    found = []
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", name)) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != TCP_LISTEN:
                continue
            address, port = fields[1].split(":")
            found.append({"address": _hex_address(address), "port": int(port, 16), "inode": int(fields[9])})
    return found


def socket_owners(inodes, proc="/proc"):
    """{inode: (pid, process name)} for the socket inodes some process has open (what the OS lets us see)."""
    wanted = {"socket:[%d]" % inode: inode for inode in inodes}
    owners = {}
    if not wanted:
        return owners
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in wanted and wanted[target] not in owners:
                try:
                    with open(os.path.join(proc, pid, "comm")) as handle:
                        name = handle.read().strip()
                except OSError:
                    name = "?"
                owners[wanted[target]] = (int(pid), name)
    return owners


def bound_addresses(ports, port):
    """The host addresses `docker ps`'s Ports column publishes port on; Docker writes consecutive ports of one
    container as a range (127.0.0.1:8000-8001->8000-8001/tcp)."""
    return [ip for ip, first, last in re.findall(r"(?:^|, )\[?([0-9a-fA-F.:]*?)\]?:(\d+)(?:-(\d+))?->", ports)
            if int(first) <= port <= int(last or first)]


def collides(wanted_address, listener_address):
    return (wanted_address == listener_address or wanted_address in WILDCARDS
            or listener_address in WILDCARDS)


# ---------------------------------------------------------------- port entries

def parse_published(text):
    """'addr:host:container[/proto]' -> (address, host port text) ; (None, None) when no host port is published."""
    entry = text.strip().split("/", 1)[0]
    bracketed = re.match(r"^\[([^\]]*)\]:([^:]*):([^:]+)$", entry)
    if bracketed:
        return bracketed.group(1), bracketed.group(2)
    parts = entry.rsplit(":", 2)
    if len(parts) == 3:
        return parts[0] or "0.0.0.0", parts[1]
    if len(parts) == 2:
        return "0.0.0.0", parts[0]
    return None, None


def _where(entry):
    where = ["stack %s" % entry["stack"]] if entry["stack"] else []
    if entry["service"]:
        where.append("service %s" % entry["service"])
    return (" (%s)" % ", ".join(where)) if where else ""


def _fix(entry):
    return "change %s" % (entry["variable"] or "the port in the stack's declaration")


class Prechecks:

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.problems = []
        self.notes = []
        self.listeners = []
        self.docker_version = ""
        self.compose_version = ""

    # -- Docker access, asked only when needed
    def docker_installed(self):
        host = self.params["docker_host"] or ""
        socket_path = host[len("unix://"):] if host.startswith("unix://") else ""
        return bool(self.module.get_bin_path("docker")) or (bool(socket_path) and os.path.exists(socket_path))

    # -- ports
    def check_ports(self):
        wanted = []
        seen = {}
        for entry in self.params["ports"]:
            address, port_text = parse_published(entry["published"])
            if address is None:
                continue
            where = _where(entry)
            try:
                ipaddress.ip_address(address)
            except ValueError:
                self.problems.append(
                    "bind address %r of %r%s is not an IP address: %s to an address of the host, e.g. 127.0.0.1"
                    % (address, entry["published"], where, _fix(entry)))
                continue
            if not re.match(r"^[0-9]+$", port_text or "") or not 1 <= int(port_text) <= 65535:
                self.problems.append(
                    "published port %r of %r%s is not a port number in 1-65535: %s"
                    % (port_text, entry["published"], where, _fix(entry)))
                continue
            port = int(port_text)
            for (other_address, other_port), other in seen.items():
                if other_port == port and collides(address, other_address):
                    self.problems.append(
                        "port %s:%d%s is also published by %r%s: give one of them another port (%s)"
                        % (address, port, where, other["published"], _where(other), _fix(entry)))
            seen[(address, port)] = entry
            wanted.append((address, port, entry))
        if not wanted:
            return
        listening = tcp_listeners()
        ports = {port for _, port, _ in wanted}
        relevant = [item for item in listening if item["port"] in ports]
        owners = socket_owners([item["inode"] for item in relevant])
        for address, port, entry in wanted:
            for item in relevant:
                if item["port"] != port or not collides(address, item["address"]):
                    continue
                pid, name = owners.get(item["inode"], (None, None))
                record = {"address": item["address"], "port": port, "process": name or "", "pid": pid,
                          "project": False}
                self.listeners.append(record)
                if name == "docker-proxy":
                    verdict = self.docker_proxy_verdict(item["address"], port, entry)
                    if verdict is None:
                        record["project"] = True
                        continue
                    holder = verdict
                elif name:
                    holder = "%s (pid %d)" % (name, pid)
                else:
                    holder = "a process the OS does not name (run the checks as root to see it)"
                self.problems.append(
                    "port %s:%d%s is taken: %s listens on %s:%d; stop it, or %s"
                    % (address, port, _where(entry), holder, item["address"], port, _fix(entry)))

    def docker_proxy_verdict(self, address, port, entry):
        """None when the project's own container (of the same stack) publishes the port, else who holds it.

        Asks the docker command (present wherever docker-proxy is; the Python SDK may not be)."""
        docker = self.module.get_bin_path("docker")
        if not docker:
            return "docker-proxy (no docker command to ask which container it serves)"
        label_key, _, label_value = self.params["project_label"].partition("=")
        rc, out, err = self.module.run_command([
            docker, "ps", "--filter", "publish=%d" % port, "--format",
            '{{.Names}}\t{{.Label "%s"}}\t{{.Label "io.devops-labs.stack"}}\t{{.Ports}}' % label_key])
        if rc != 0:
            return "docker-proxy (Docker did not say for which container: %s)" % ((err or out).strip() or rc)
        for line in out.splitlines():
            name, project, stack, ports = (line.split("\t") + ["", "", "", ""])[:4]
            bound = bound_addresses(ports, port)
            if not any(collides(host_ip or "0.0.0.0", address) for host_ip in bound):
                continue
            if project != label_value:
                return "container %s (not this project's: no label %s), through docker-proxy" % (
                    name, self.params["project_label"])
            if entry["stack"] and stack and stack != entry["stack"]:
                return "container %s of the project's stack %s, through docker-proxy" % (name, stack)
            return None
        return "docker-proxy for a container Docker does not list (restart Docker to free it)"

    # -- disk
    def free_bytes(self, path):
        """(existing path measured, free bytes for an unprivileged user)."""
        probe = os.path.abspath(path)
        while not os.path.exists(probe) and probe != os.path.dirname(probe):
            probe = os.path.dirname(probe)
        stat = os.statvfs(probe)
        return probe, stat.f_bavail * stat.f_frsize

    def _bytes(self, text, name):
        try:
            return human_to_bytes(str(text).strip() or "0")
        except ValueError as exc:
            self.module.fail_json(msg="%s: %r is not a size (bytes, or e.g. 200M, 5G): %s" % (name, text, exc))

    def check_disk_path(self, path, min_free, what, variable):
        need = self._bytes(min_free, variable or "min_free")
        if need <= 0:
            return
        measured, free = self.free_bytes(path)
        if free < need:
            self.problems.append(
                "disk: %s%s has %s free (file system of %s), the run needs %s: free space there "
                "(docker system prune, df -h %s) or lower %s"
                % (path, " (%s)" % what if what else "", bytes_to_human(free), measured, bytes_to_human(need),
                   measured, variable or "the threshold"))

    def check_disk(self):
        for entry in self.params["disk"]:
            self.check_disk_path(entry["path"], entry["min_free"], entry["what"], entry["variable"])
        need = self._bytes(self.params["docker_data_root_min_free"], "docker_data_root_min_free")
        if need <= 0:
            return
        if not self.docker_installed():
            return  # said once by check_versions
        root = "/var/lib/docker"
        docker = self.module.get_bin_path("docker")
        if docker:
            rc, out, _err = self.module.run_command([docker, "info", "--format", "{{.DockerRootDir}}"])
            if rc == 0 and out.strip().startswith("/"):
                root = out.strip()
            else:
                self.notes.append("Docker's data root not known (docker info rc %d): %s measured" % (rc, root))
        self.check_disk_path(root, self.params["docker_data_root_min_free"], "Docker's data root: images, volumes",
                             self.params["docker_data_root_variable"])

    # -- versions
    def check_versions(self):
        wants = self.params["docker_min_version"] or self.params["compose_min_version"]
        if not self.docker_installed():
            self.notes.append("Docker is not installed on this host yet: engine and Compose versions and its data "
                              "root not checked (site.yml installs Docker first)")
            return
        if not wants:
            return
        docker = self.module.get_bin_path("docker")
        if not docker:
            self.notes.append("no docker command on PATH (only the engine's socket): versions not checked")
            return
        rc, out, err = self.module.run_command([docker, "version", "--format", "{{.Server.Version}}"])
        if rc != 0 or not out.strip():
            self.problems.append("Docker Engine does not answer (docker version: %s): start it (systemctl start "
                                 "docker) or run playbooks/docker.yml" % ((err or out).strip() or "rc %d" % rc))
            return
        self.docker_version = out.strip()
        minimum = self.params["docker_min_version"]
        if minimum and self.docker_version and _version(self.docker_version) < _version(minimum):
            self.problems.append(
                "Docker Engine %s is older than %s, the oldest this project runs on: upgrade it "
                "(playbooks/docker.yml, docker_engine_source) or lower prechecks_docker_min_version"
                % (self.docker_version, minimum))
        self.check_compose()

    def check_compose(self):
        low, high = self.params["compose_min_version"], self.params["compose_max_version"]
        if not low:
            return
        docker = self.module.get_bin_path("docker")
        if not docker:
            self.notes.append("no docker command on PATH: Compose version not checked")
            return
        rc, out, err = self.module.run_command([docker, "compose", "version", "--short"])
        match = re.search(r"[0-9]+\.[0-9]+\.[0-9]+", out or "")
        if rc != 0 or not match:
            self.problems.append(
                "Compose v2 is missing (docker compose version: %s): install the Compose plugin "
                "(playbooks/docker.yml installs it)" % ((err or out).strip() or "rc %d" % rc))
            return
        self.compose_version = match.group(0)
        version = _version(self.compose_version)
        if version < _version(low) or (high and version >= _version(high)):
            self.problems.append(
                "Compose %s is outside the range this project is tested with (>= %s%s): install one in range "
                "(docker_engine_compose_apt_version, playbooks/docker.yml) or change docker_engine_compose_min_version"
                % (self.compose_version, low, ", < %s" % high if high else ""))

    # -- registry
    def check_registry(self):
        url = self.params["registry_url"].rstrip("/")
        if not url:
            return
        try:
            response = request(url + "/v2/", username=self.params["registry_username"],
                               password=self.params["registry_password"], ca_path=self.params["ca_path"],
                               validate_certs=self.params["validate_certs"], timeout=self.params["timeout"])
        except HttpError as exc:
            self.problems.append(
                "registry %s does not answer from this host (%s): start it (ansible-playbook playbooks/registry.yml), "
                "or fix project_registry / registry_hostname" % (url, exc))
            return
        if response.status in (401, 403):
            self.problems.append(
                "registry %s refuses the credentials of %s (HTTP %d): the password in .secrets/registry_password "
                "must match the registry's htpasswd (rerun playbooks/registry.yml)"
                % (url, self.params["registry_username"] or "anonymous", response.status))
        elif response.status != 200:
            self.problems.append("registry %s answers HTTP %d to GET /v2/ (not a registry v2 API?): fix project_registry"
                                 % (url, response.status))


def _version(text):
    return tuple(int(part) for part in re.findall(r"[0-9]+", text)[:3])


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    checks = Prechecks(module)
    checks.check_ports()
    checks.check_versions()
    checks.check_disk()
    checks.check_registry()
    result = dict(changed=False, problems=checks.problems, notes=checks.notes, listeners=checks.listeners,
                  docker_version=checks.docker_version, compose_version=checks.compose_version)
    if checks.problems and module.params["fail_on_problems"]:
        module.fail_json(msg="%d precheck problem(s): %s" % (len(checks.problems), " | ".join(checks.problems)),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
