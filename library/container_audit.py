#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Audit the security settings of the project's running containers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: container_audit
short_description: Audit the security settings of the project's containers
description:
  - Inspects the project's containers (running containers carrying O(label), and/or the
    containers named in O(containers)) and reports, per container, the settings that break the
    project's container defaults.
  - "Checks, by stable ID (default severity):
    V(privileged) (critical),
    V(docker_socket_mounted) (critical; the Docker socket or a directory holding it is bind-mounted),
    V(host_path_mounted) (high when writable, medium when read-only; a bind mount outside O(allowed_bind_paths)),
    V(capabilities_not_allowed) (high for powerful capabilities such as SYS_ADMIN, NET_ADMIN, SYS_PTRACE,
    medium otherwise; effective capabilities beyond O(cap_allowlist), counting Docker's default set
    unless ALL is dropped),
    V(port_bind_address) (high; a port published on another address than O(expected_bind_address)),
    V(runs_as_root) (medium; user empty, V(root), V(0) or V(0:group)),
    V(no_new_privileges_missing) (medium),
    V(no_memory_limit) (medium),
    V(writable_rootfs) (low; unless the container is in O(writable_rootfs_allowed)),
    V(no_healthcheck) (low),
    V(no_restart_policy) (low),
    V(restart_not_always) (low; V(unless-stopped) or V(on-failure): Docker 20.10 does not start such a container
    again after dockerd is killed, only V(always) comes back by itself)."
  - Findings are returned as data. The module fails when a finding at or above O(fail_on) remains
    after O(exceptions) are applied.
  - Talks to the Docker Engine API through the Docker SDK for Python, never the C(docker) CLI.
options:
  label:
    description:
      - Audit the running containers carrying this label, as V(key=value) or just V(key).
      - At least one of O(label) and O(containers) is required; both together audit the union.
    type: str
  containers:
    description:
      - Names or IDs of containers to audit, running or not. A name that does not exist is an error.
    type: list
    elements: str
  cap_allowlist:
    description:
      - Capabilities a container may have, without the C(CAP_) prefix, for example V(NET_BIND_SERVICE).
    type: list
    elements: str
    default: []
  exceptions:
    description:
      - "Accepted findings, as C({container name: {check ID: reason}}). The reason must be a
        non-empty string; it is returned in RV(exceptions_applied)."
      - An unknown check ID is an error, so that a typo does not hide a finding.
      - A container may also carry its own exception, declared with it (in its stack's declaration) as the
        label C(io.devops-labs.audit-exception.<check ID>=<reason>); such a label with an unknown check ID
        or an empty reason accepts nothing. Either way the accepted finding is listed in
        RV(exceptions_applied) with its reason.
    type: dict
    default: {}
  writable_rootfs_allowed:
    description:
      - Names of containers allowed to run with a writable root file system.
    type: list
    elements: str
    default: []
  allowed_bind_paths:
    description:
      - Host paths (and everything below them) that containers may bind-mount.
      - The Docker socket is reported as V(docker_socket_mounted) even when under an allowed path;
        use O(exceptions) for a container that really needs it.
    type: list
    elements: str
    default: []
  expected_bind_address:
    description:
      - Host address that published ports must be bound to. When it is a loopback address,
        any loopback address is accepted.
      - An empty string accepts any address.
    type: str
    default: 127.0.0.1
  fail_on:
    description:
      - Fail when a finding of this severity or a higher one remains; V(none) never fails.
    type: str
    default: high
    choices: [none, low, medium, high, critical]
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
- name: Audit every running container of the project, fail on high and critical findings
  container_audit:
    label: com.example.project=devops-labs
    cap_allowlist: [NET_BIND_SERVICE]
    writable_rootfs_allowed: [etl-postgres]
    allowed_bind_paths: [/srv/labs]
    exceptions:
      registry-ui:
        no_healthcheck: the upstream UI image has no health endpoint
  register: audit

- name: Show what was found
  ansible.builtin.debug:
    var: audit.findings

- name: Report only, never fail, ports may listen anywhere
  container_audit:
    containers: [student-app, student-db]
    expected_bind_address: ""
    fail_on: none
"""

RETURN = r"""
findings:
  description: Findings left after exceptions, most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    container:
      description: Container name.
      type: str
      sample: student-app
    check:
      description: Stable ID of the check.
      type: str
      sample: runs_as_root
    severity:
      description: One of V(low), V(medium), V(high), V(critical).
      type: str
      sample: medium
    message:
      description: What was found.
      type: str
      sample: "runs as root (user: '')"
  sample:
    - container: student-app
      check: port_bind_address
      severity: high
      message: "published ports not on 127.0.0.1: 8000/tcp on 0.0.0.0:8000"
counts:
  description: Number of findings per severity, after exceptions.
  returned: always
  type: dict
  sample: {critical: 0, high: 1, medium: 2, low: 0}
containers_audited:
  description: Names of the audited containers.
  returned: always
  type: list
  elements: str
  sample: [student-app, student-db]
exceptions_applied:
  description: Findings that O(exceptions) accepted, each with its reason.
  returned: always
  type: list
  elements: dict
  sample:
    - container: registry-ui
      check: no_healthcheck
      severity: low
      message: no healthcheck
      reason: the upstream UI image has no health endpoint
"""

import posixpath

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labs_docker import (
    DockerAccessError,
    container_name,
    docker_argument_spec,
    get_client,
    inspect_container,
    list_containers,
    published_ports,
)

ARGUMENT_SPEC = dict(
    label=dict(type="str"),
    containers=dict(type="list", elements="str"),
    cap_allowlist=dict(type="list", elements="str", default=[]),
    exceptions=dict(type="dict", default={}),
    writable_rootfs_allowed=dict(type="list", elements="str", default=[]),
    allowed_bind_paths=dict(type="list", elements="str", default=[]),
    expected_bind_address=dict(type="str", default="127.0.0.1"),
    fail_on=dict(type="str", default="high", choices=["none", "low", "medium", "high", "critical"]),
    **docker_argument_spec(),
)

SEVERITIES = ["low", "medium", "high", "critical"]  # increasing

CHECKS = (
    "privileged",
    "docker_socket_mounted",
    "host_path_mounted",
    "capabilities_not_allowed",
    "port_bind_address",
    "runs_as_root",
    "no_new_privileges_missing",
    "no_memory_limit",
    "writable_rootfs",
    "no_healthcheck",
    "no_restart_policy",
    "restart_not_always",
)

# What a container gets from Docker (20.10 .. 28) unless capabilities are dropped.
DEFAULT_CAPS = frozenset([
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
])
# Capabilities that, beyond the allow-list, make the finding high instead of medium.
POWERFUL_CAPS = frozenset([
    "ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT",
    "SYS_TIME", "DAC_READ_SEARCH", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON", "SYSLOG",
])
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


def _finding(name, check, severity, message):
    return dict(container=name, check=check, severity=severity, message=message)


def _cap(name):
    name = name.strip().upper()
    return name[4:] if name.startswith("CAP_") else name


def _under(path, parent):
    path, parent = posixpath.normpath(path), posixpath.normpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _is_root_user(user):
    user = (user or "").strip()
    return user.split(":", 1)[0] in ("", "root", "0")


def _is_loopback(address):
    return address.startswith("127.") or address in ("::1", "localhost")


def _bind_mounts(inspect):
    """(source, writable) of the container's bind mounts."""
    mounts = inspect.get("Mounts")
    if mounts:
        return [(m.get("Source", ""), bool(m.get("RW", True)))
                for m in mounts if m.get("Type") == "bind"]
    binds = []  # created but never started: only the configured binds are known
    for bind in (inspect.get("HostConfig") or {}).get("Binds") or []:
        parts = bind.split(":")
        if parts[0].startswith("/"):
            binds.append((parts[0], not (len(parts) > 2 and "ro" in parts[2].split(","))))
    return binds


def effective_caps(host_config):
    """Capabilities of the container's processes (without the CAP_ prefix)."""
    drop = set(_cap(c) for c in host_config.get("CapDrop") or [])
    add = set(_cap(c) for c in host_config.get("CapAdd") or [])
    caps = set() if "ALL" in drop else set(DEFAULT_CAPS) - drop
    return caps | add


def audit_container(inspect, cap_allowlist=(), writable_rootfs_allowed=(),
                    allowed_bind_paths=(), expected_bind_address="127.0.0.1"):
    """Findings for one container, from its ``docker inspect`` dict."""
    name = container_name(inspect)
    config = inspect.get("Config") or {}
    host = inspect.get("HostConfig") or {}
    findings = []

    if host.get("Privileged"):
        findings.append(_finding(name, "privileged", "critical",
                                 "runs privileged (all capabilities, all devices)"))

    for source, writable in sorted(_bind_mounts(inspect)):
        mode = "read-write" if writable else "read-only"
        if any(_under(sock, source) for sock in DOCKER_SOCKETS):
            findings.append(_finding(name, "docker_socket_mounted", "critical",
                                     "the Docker socket is reachable through bind mount %s (%s)"
                                     % (source, mode)))
        elif not any(_under(source, allowed) for allowed in allowed_bind_paths):
            findings.append(_finding(name, "host_path_mounted", "high" if writable else "medium",
                                     "host path %s is bind-mounted %s" % (source, mode)))

    if not host.get("Privileged"):
        extra = effective_caps(host) - set(_cap(c) for c in cap_allowlist)
        if extra:
            severity = "high" if extra & POWERFUL_CAPS else "medium"
            findings.append(_finding(name, "capabilities_not_allowed", severity,
                                     "capabilities beyond the allow-list: %s"
                                     % ", ".join(sorted(extra))))

    if expected_bind_address:
        wrong = sorted("%s on %s:%s" % (port, "[%s]" % ip if ":" in ip else ip, host_port)
                       for port, ip, host_port in published_ports(inspect)
                       if ip != expected_bind_address
                       and not (_is_loopback(ip) and _is_loopback(expected_bind_address)))
        if wrong:
            findings.append(_finding(name, "port_bind_address", "high",
                                     "published ports not on %s: %s"
                                     % (expected_bind_address, ", ".join(wrong))))

    if _is_root_user(config.get("User")):
        findings.append(_finding(name, "runs_as_root", "medium",
                                 "runs as root (user: %r)" % (config.get("User") or "")))

    security_opt = [o.replace("=", ":") for o in host.get("SecurityOpt") or []]
    if "no-new-privileges" not in security_opt and "no-new-privileges:true" not in security_opt:
        findings.append(_finding(name, "no_new_privileges_missing", "medium",
                                 "no-new-privileges is not set"))

    if not host.get("Memory"):
        findings.append(_finding(name, "no_memory_limit", "medium", "no memory limit"))

    if not host.get("ReadonlyRootfs") and name not in writable_rootfs_allowed:
        findings.append(_finding(name, "writable_rootfs", "low", "root file system is writable"))

    test = (config.get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE":
        findings.append(_finding(name, "no_healthcheck", "low", "no healthcheck"))

    policy = (host.get("RestartPolicy") or {}).get("Name") or "no"
    if policy == "no":
        findings.append(_finding(name, "no_restart_policy", "low", "no restart policy"))
    elif policy != "always":
        findings.append(_finding(name, "restart_not_always", "low",
                                 "restart policy %s: not started again after a dockerd crash (use always)" % policy))

    return findings


def check_exceptions(exceptions):
    """Error messages for malformed ``exceptions``; empty when they are fine."""
    errors = []
    for name, checks in (exceptions or {}).items():
        if not isinstance(checks, dict):
            errors.append("exceptions[%s] must be a dict of check ID -> reason" % name)
            continue
        for check, reason in checks.items():
            if check not in CHECKS:
                errors.append("exceptions[%s]: unknown check %r (known: %s)"
                              % (name, check, ", ".join(CHECKS)))
            elif not isinstance(reason, str) or not reason.strip():
                errors.append("exceptions[%s][%s] needs a reason (a non-empty string)"
                              % (name, check))
    return errors


EXCEPTION_LABEL = "io.devops-labs.audit-exception."


def label_exceptions(inspects):
    """{container: {check: reason}} declared by the containers' own labels (known checks, non-empty reasons)."""
    found = {}
    for inspect in inspects:
        labels = (inspect.get("Config") or {}).get("Labels") or {}
        for key, reason in labels.items():
            check = key[len(EXCEPTION_LABEL):] if key.startswith(EXCEPTION_LABEL) else None
            if check in CHECKS and (reason or "").strip():
                found.setdefault(container_name(inspect), {})[check] = reason
    return found


def apply_exceptions(findings, exceptions):
    """(kept findings, applied exceptions: the accepted findings plus their reason)."""
    kept, applied = [], []
    for finding in findings:
        reason = (exceptions.get(finding["container"]) or {}).get(finding["check"])
        if reason:
            applied.append(dict(finding, reason=reason))
        else:
            kept.append(finding)
    return kept, applied


def count_by_severity(findings):
    counts = dict((severity, 0) for severity in SEVERITIES)
    for finding in findings:
        counts[finding["severity"]] += 1
    return counts


def at_or_above(findings, fail_on):
    """The findings whose severity reaches ``fail_on`` (none for V(none))."""
    if fail_on == "none":
        return []
    floor = SEVERITIES.index(fail_on)
    return [f for f in findings if SEVERITIES.index(f["severity"]) >= floor]


def sort_findings(findings):
    return sorted(findings, key=lambda f: (-SEVERITIES.index(f["severity"]),
                                           f["container"], CHECKS.index(f["check"])))


def audit(inspects, params):
    """Result dict (without ``changed``) for a list of inspect dicts."""
    findings = []
    for inspect in inspects:
        findings.extend(audit_container(
            inspect,
            cap_allowlist=params["cap_allowlist"],
            writable_rootfs_allowed=params["writable_rootfs_allowed"],
            allowed_bind_paths=params["allowed_bind_paths"],
            expected_bind_address=params["expected_bind_address"]))
    exceptions = label_exceptions(inspects)
    for name, checks in (params["exceptions"] or {}).items():
        exceptions[name] = dict(exceptions.get(name) or {}, **checks)
    kept, applied = apply_exceptions(sort_findings(findings), exceptions)
    return dict(findings=kept, counts=count_by_severity(kept),
                containers_audited=[container_name(i) for i in inspects],
                exceptions_applied=applied)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[("label", "containers")],
        supports_check_mode=True,
    )
    params = module.params
    errors = check_exceptions(params["exceptions"])
    if errors:
        module.fail_json(msg="invalid exceptions: " + "; ".join(errors))
    try:
        client = get_client(params["docker_host"])
        inspects = list_containers(client, label=params["label"]) if params["label"] else []
        ids = set(i["Id"] for i in inspects)
        for name in params["containers"] or []:
            inspect = inspect_container(client, name)
            if inspect["Id"] not in ids:
                ids.add(inspect["Id"])
                inspects.append(inspect)
    except DockerAccessError as exc:
        module.fail_json(msg=str(exc))

    result = audit(inspects, params)
    if not inspects:
        module.warn("no container to audit: none running with label %r" % params["label"])
    blocking = at_or_above(result["findings"], params["fail_on"])
    if blocking:
        module.fail_json(
            msg="%d finding(s) at or above severity %s: %s" % (
                len(blocking), params["fail_on"],
                "; ".join("%s: %s" % (f["container"], f["message"]) for f in blocking)),
            changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
