"""Filters of the compose_stack role: a stack declaration -> a Compose project and the files it reads.

Written in Python rather than Jinja because it is a program (validation with suggestions, merging the
hardening defaults, per-service revisions of the secrets and configs they read) and needs unit tests
(tests/unit/test_compose_stack_filter.py). The service schema is not restated here: it is the `service`
entry point of the role's meta/argument_specs.yml, validated with Ansible's own ArgumentSpecValidator.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os

import jinja2
from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ONESHOT_PROFILE = "oneshot"
# Keys of a service declaration that are ours, not Compose's.
OWN_KEYS = {"oneshot", "secret_env", "enabled", "proxy"}
# The proxy compose_stack puts in front of the ports of the services declared with `proxy: http|tcp`.
PROXY_CONFIG = "proxy.cfg"
PROXY_TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates", "haproxy.cfg.j2")
# Defaults merged key by key into the service's own value instead of being replaced by it.
MERGED_KEYS = {"labels", "healthcheck", "logging"}


def _plain(value):
    """Builtin dicts, lists and scalars (Ansible hands filters lazily templated containers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _service_spec(argument_specs):
    """The option spec of a service, from the role's meta/argument_specs.yml (already parsed)."""
    try:
        return argument_specs["argument_specs"]["service"]["options"]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("compose_stack: meta/argument_specs.yml has no 'service' entry point") from exc


def _suggest(key, known):
    close = difflib.get_close_matches(key, known, n=1)
    return " (did you mean '%s'?)" % close[0] if close else ""


def stack_problems(definition, argument_specs):
    """Every problem of a declaration, one line each, naming the stack, the service and the key."""
    return _validate(definition, argument_specs)[0]


def _validate(definition, argument_specs):
    """(problems, {service: its keys converted to their spec'd types})."""
    definition = _plain(definition)
    spec = _service_spec(_plain(argument_specs))
    name = (definition or {}).get("name") or "?"
    problems, validated = [], {}
    services = {k: v for k, v in ((definition or {}).get("services") or {}).items()
                if not (isinstance(v, dict) and v.get("enabled", True) in (False, "false", "False"))}
    if not services:
        problems.append("stack %s: declares no service" % name)
    for service, body in services.items():
        where = "stack %s, service %s" % (name, service)
        if not isinstance(body, dict):
            problems.append("%s: must be a mapping, got %s" % (where, type(body).__name__))
            continue
        result = ArgumentSpecValidator(spec).validate(copy.deepcopy(body))
        validated[service] = {k: result.validated_parameters.get(k, v) for k, v in body.items()}
        for key in sorted(result.unsupported_parameters):
            problems.append("%s: unknown key '%s'%s" % (where, key, _suggest(key, sorted(spec))))
        for error in result.errors:
            text = str(error)
            if "Supported parameters include" in text:
                continue  # the unknown keys, reported above with a suggestion
            problems.append("%s: %s" % (where, text))
        for dep in (body.get("depends_on") or {}):
            if dep not in services:
                problems.append("%s: depends_on names '%s', which is not a service of the stack" % (where, dep))
        for net in body.get("networks") or []:
            if net not in (definition.get("networks") or {}):
                problems.append("%s: network '%s' is not declared in the stack's networks" % (where, net))
        used = [s if isinstance(s, str) else (s or {}).get("source") for s in body.get("secrets") or []]
        used += list((body.get("secret_env") or {}).values())
        for secret in used:
            if secret not in (definition.get("secrets") or {}):
                problems.append("%s: secret '%s' is not declared in the stack's secrets" % (where, secret))
        for cfg in body.get("configs") or []:
            source = cfg if isinstance(cfg, str) else (cfg or {}).get("source")
            if source not in (definition.get("configs") or {}):
                problems.append("%s: config '%s' is not declared in the stack's configs" % (where, source))
        if body.get("proxy"):
            if not body.get("ports"):
                problems.append("%s: proxy is set but the service publishes no port" % where)
            if body.get("network_mode") or not body.get("networks"):
                problems.append("%s: proxy needs the service on a network of the stack (the proxy joins it)" % where)
    if PROXY_CONFIG in (definition.get("configs") or {}) and any(
            isinstance(b, dict) and b.get("proxy") for b in services.values()):
        problems.append("stack %s: config name '%s' is the proxy's" % (name, PROXY_CONFIG))
    return problems, validated


def _split_port(port):
    """'[address:]host:container' -> (address, host port, container port)."""
    parts = str(port).rsplit(":", 2)
    if len(parts) == 1:
        return "0.0.0.0", parts[0], parts[0]
    if len(parts) == 2:
        return "0.0.0.0", parts[0], parts[1]
    return parts[0], parts[1], parts[2]


def proxy_config(stack, routes, proxy):
    """The HAProxy configuration of a stack's proxy (templates/haproxy.cfg.j2).

    routes: [{name, mode (http|tcp), port (where the proxy listens), service, target (its port)}].
    """
    with open(PROXY_TEMPLATE) as handle:
        template = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                                      undefined=jinja2.StrictUndefined).from_string(handle.read())
    return template.render(stack=stack, routes=routes, proxy=proxy)


def _with_proxy(definition, validated, proxy):
    """Move the ports of the services declared with `proxy` to one proxy service of the stack.

    The proxy listens on each such port at the host port's number and forwards to <service>:<container port>
    over the stack's networks; the service keeps no published port. Returns {proxy port: the service behind}.
    """
    proxied = {s: b for s, b in validated.items() if b.get("proxy") and b.get("enabled", True)}
    if not proxied:
        return {}
    name = definition["name"]
    routes, ports, networks, behind = [], [], [], {}
    for sname, body in proxied.items():
        for port in body.pop("ports"):
            address, host, target = _split_port(port)
            routes.append({"name": "%s-%s" % (sname, host), "mode": body["proxy"], "port": host,
                           "service": sname, "target": target})
            ports.append("%s:%s:%s" % (address, host, host))
            behind[host] = sname
        networks += [n for n in body["networks"] if n not in networks]
    settings = {k: v for k, v in proxy.items() if k not in ("image", "mem_limit", "cpus")}
    definition.setdefault("configs", {})
    definition["configs"] = {**(definition["configs"] or {}),
                             PROXY_CONFIG: {"content": proxy_config(name, routes, settings), "uid": 0}}
    validated["%s-proxy" % name] = {
        "image": proxy["image"], "networks": networks, "ports": ports,
        "configs": [{"source": PROXY_CONFIG, "target": "/etc/haproxy/haproxy.cfg"}],
        "mem_limit": proxy.get("mem_limit", "64m"), "cpus": proxy.get("cpus", 0.5)}
    return behind


def _digest(parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _merge_service(body, defaults):
    merged = {k: copy.deepcopy(v) for k, v in defaults.items() if k not in body}
    for key, value in body.items():
        if key in MERGED_KEYS and isinstance(value, dict) and isinstance(defaults.get(key), dict):
            merged[key] = {**defaults[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def compose_project(definition, defaults, labels, argument_specs, proxy=None):
    """The Compose project of a declaration, and the files its services read.

    proxy: the proxy's settings (compose_stack_proxy, with the stack's own `proxy` merged in), used when a
    service is declared with `proxy: http|tcp`.

    Returns {compose: <the compose.yaml document>, files: [{path, content, owner, mode}] (paths relative
    to the project directory), services: [long-running service names], oneshot: [one-shot job names]}.
    """
    definition, defaults, labels = _plain(definition), _plain(defaults), _plain(labels)
    problems, validated = _validate(definition, argument_specs)
    if problems:
        raise AnsibleFilterError("; ".join(problems))
    name = definition["name"]
    behind = _with_proxy(definition, validated, {**_plain(proxy or {}), **(definition.get("proxy") or {})})
    stack_labels = {**labels, "io.devops-labs.stack": name}
    secrets = definition.get("secrets") or {}
    configs = definition.get("configs") or {}
    files = []
    for sname, secret in sorted(secrets.items()):
        files.append({"path": "secrets/" + sname, "content": str(secret["value"]),
                      "owner": int(secret.get("uid", 0)), "mode": secret.get("mode", "0400")})
    for cname, config in sorted(configs.items()):
        files.append({"path": "configs/" + cname, "content": str(config["content"]),
                      "owner": int(config.get("uid", 0)), "mode": config.get("mode", "0444")})

    services, long_running, oneshot = {}, [], []
    for sname, body in validated.items():
        if not body.pop("enabled", True):
            continue
        svc = _merge_service(body, defaults)
        is_oneshot = bool(svc.pop("oneshot", False))
        svc.pop("proxy", None)
        secret_env = svc.pop("secret_env", None) or {}
        svc.setdefault("container_name", sname)
        svc["labels"] = {**stack_labels, **{k: str(v) for k, v in (svc.get("labels") or {}).items()}}
        # What the service reads at start from files Compose cannot see change: a new value recreates it.
        read = []
        for entry in svc.get("secrets") or []:
            source = entry if isinstance(entry, str) else entry["source"]
            read.append(["secret", source, str(secrets[source]["value"])])
        for entry in svc.get("configs") or []:
            source = entry if isinstance(entry, str) else entry["source"]
            read.append(["config", source, str(configs[source]["content"])])
        if secret_env:
            env_path = "secrets/%s.env" % sname
            content = "".join("%s=%s\n" % (var, secrets[src]["value"]) for var, src in sorted(secret_env.items()))
            files.append({"path": env_path, "content": content, "owner": 0, "mode": "0400"})
            svc["env_file"] = ["./" + env_path]
            read.append(["env", content])
        if read:
            svc["labels"]["io.devops-labs.config-revision"] = _digest(read)
        if svc.get("environment"):
            svc["environment"] = {k: str(v) for k, v in svc["environment"].items()}
        if svc.get("sysctls"):
            svc["sysctls"] = {k: str(v) for k, v in svc["sysctls"].items()}
        if svc.get("depends_on"):
            svc["depends_on"] = {dep: {"condition": cond} for dep, cond in svc["depends_on"].items()}
        if svc.get("network_mode"):
            svc.pop("networks", None)
        if is_oneshot:
            svc["profiles"] = [ONESHOT_PROFILE]
            svc["restart"] = "no"
            # A job is judged by its exit code; the image's healthcheck (meant for its servers) would only
            # leave it marked unhealthy.
            svc["healthcheck"] = {"disable": True}
            svc["labels"]["io.devops-labs.oneshot"] = "true"
            oneshot.append(sname)
        else:
            long_running.append(sname)
        for key in [k for k, v in svc.items() if v in (None, [], {})]:
            del svc[key]
        services[sname] = svc

    compose = {"name": name, "services": services}
    if definition.get("networks"):
        # A network of another stack (e.g. Prometheus joining the student stack's) is external: used, not owned.
        # driver_opts reach the bridge driver as they are (e.g. com.docker.network.bridge.inhibit_ipv4: the
        # Docker host gets no address on the network, so nothing on the host reaches its containers).
        compose["networks"] = {
            net: ({"name": net, "external": True} if (opts or {}).get("external") else
                  {"name": net, "internal": bool((opts or {}).get("internal", False)), "labels": dict(stack_labels),
                   **({"driver_opts": {k: str(v) for k, v in opts["driver_opts"].items()}}
                      if (opts or {}).get("driver_opts") else {})})
            for net, opts in definition["networks"].items()}
    if definition.get("volumes"):
        # A volume of another stack (e.g. the ETL's outputs, served read-only by the monitoring dashboard) is
        # external: used, never created or removed by this stack.
        compose["volumes"] = {vol: ({"name": vol, "external": True} if (opts or {}).get("external") else
                                    {"name": vol, "labels": dict(stack_labels)})
                              for vol, opts in definition["volumes"].items()}
    # Secrets a service mounts (those only passed through secret_env reach it in its env file).
    mounted = sorted({e if isinstance(e, str) else e["source"] for svc in services.values() for e in svc.get("secrets") or []})
    if mounted:
        compose["secrets"] = {s: {"file": "./secrets/" + s} for s in mounted}
    if configs:
        compose["configs"] = {c: {"file": "./configs/" + c} for c in sorted(configs)}
    # Where each service answers (a proxied one at the port its proxy publishes for it).
    published = [{"service": behind.get(_split_port(port)[1], sname), "address": _split_port(port)[0],
                  "port": _split_port(port)[1]}
                 for sname, svc in services.items() for port in svc.get("ports") or []]
    return {"compose": compose, "files": files, "services": long_running, "oneshot": oneshot,
            "published": published}


def addresses(published, public_address="127.0.0.1"):
    """'service address:port' for each published port; a wildcard address becomes public_address."""
    return ["%s %s:%s" % (p["service"], public_address if p["address"] in ("0.0.0.0", "::", "") else p["address"],
                          p["port"]) for p in published]


def outdated(services, compose_services, images, containers):
    """The long-running services whose container is missing or runs another image than its reference names now.

    images: docker_image_info `images`; containers: docker_host_info `containers` (verbose) of the project.
    """
    current = {}
    for image in images or []:
        for tag in image.get("RepoTags") or []:
            current[tag] = image.get("Id")
    running = {}
    for container in containers or []:
        labels = container.get("Labels") or {}
        if labels.get("com.docker.compose.oneoff") == "True":
            continue
        running[labels.get("com.docker.compose.service")] = container.get("ImageID")
    out = []
    for name in services:
        image = compose_services[name]["image"]
        ref = image if ":" in image.rsplit("/", 1)[-1] else image + ":latest"
        if running.get(name) is None or running[name] != current.get(ref):
            out.append(name)
    return out


def deployed(services, compose_services, containers):
    """What each long-running service runs now: {service: {image: its reference, id: the image ID it runs}}.

    containers: docker_host_info `containers` (verbose) of the project. A service without a container is left out.
    """
    running = {}
    for container in containers or []:
        labels = container.get("Labels") or {}
        if labels.get("com.docker.compose.oneoff") == "True":
            continue
        running[labels.get("com.docker.compose.service")] = container.get("ImageID")
    return {name: {"image": compose_services[name]["image"], "id": running[name]}
            for name in services if running.get(name)}


def history_add(history, state, at, keep=5):
    """The deploy history (oldest first) with state appended, unless it is what the last entry already records.

    An entry is {at: when it was first seen good, services: state}; at most `keep` entries are kept.
    """
    history = list(history or [])
    if not state or (history and history[-1].get("services") == state):
        return history[-int(keep):]
    return (history + [{"at": at, "services": state}])[-int(keep):]


def rollback_plan(history, current, stack, only=None, mode="back"):
    """Which services to put back on which image, and the history afterwards.

    mode back (make rollback): go back one deploy - the services (all, or `only`) return to the entry before the
    last one; the last entry is dropped (a SERVICE rollback keeps the other services' current images in it).
    mode restore (a failed deploy gate): the services `only` return to the last recorded good deploy; the history
    stays as it is. Returns {restore: {service: {image, id}} (only services whose image differs), history: [...]}.
    """
    history = list(history or [])
    only = list(only or [])
    if mode == "restore":
        if not history:
            raise AnsibleFilterError("stack %s: no good deploy recorded (deployed.json), nothing to roll back to"
                                     % stack)
        target, new_history = history[-1]["services"], history
    elif mode == "back":
        if len(history) < 2:
            raise AnsibleFilterError("stack %s: %d deploy(s) recorded in deployed.json, nothing earlier to go back to"
                                     % (stack, len(history)))
        target = history[-2]["services"]
        if only:
            merged = dict(current or history[-1]["services"])
            merged.update({name: target[name] for name in only if name in target})
            new_history = history[:-2] + [{"at": history[-2]["at"], "services": merged}]
        else:
            new_history = history[:-1]
    else:
        raise AnsibleFilterError("rollback_plan: mode must be back or restore, not %r" % mode)
    unknown = [name for name in only if name not in target]
    if unknown:
        raise AnsibleFilterError("stack %s: no recorded image for service(s) %s (recorded: %s)"
                                 % (stack, ", ".join(unknown), ", ".join(sorted(target)) or "none"))
    names = only if (only or mode == "restore") else sorted(target)
    restore = {name: target[name] for name in names
               if (current or {}).get(name, {}).get("id") != target[name]["id"]}
    return {"restore": restore, "history": new_history}


def gate_failure(failed_result, wait_timeout):
    """What failed a redeploy's health gate, in words, from the failed task's result (ansible_failed_result).

    A failed declared check (checks.yml's loop: a result per check): each failed check's name, URL, reason (the
    module's short `reason`, not its message with the body excerpt) and attempts. Anything else (compose's wait):
    not healthy within wait_timeout s, with the message.
    """
    failed_result = failed_result or {}
    results = failed_result.get("results")
    if isinstance(results, list):
        parts = []
        for check in results:
            if not (isinstance(check, dict) and check.get("failed")):
                continue
            item = check.get("item") or {}
            reason = str(check.get("reason") or check.get("msg") or "no reason given").strip()
            attempts = ", %s attempt(s)" % check["attempts"] if check.get("attempts") is not None else ""
            parts.append("check %s failed (%s: %s%s)" % (item.get("name", "?"), check.get("url") or item.get("url", "?"),
                                                          _shorten(reason), attempts))
        if parts:
            return "; ".join(parts)
    return "not healthy within %s s (%s)" % (wait_timeout, _shorten(str(failed_result.get("msg") or "").strip()))


def _shorten(text, limit=300):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class FilterModule:
    def filters(self):
        return {"compose_stack_problems": stack_problems, "compose_stack_project": compose_project,
                "compose_stack_addresses": addresses, "compose_stack_outdated": outdated,
                "compose_stack_deployed": deployed, "compose_stack_history_add": history_add,
                "compose_stack_rollback_plan": rollback_plan, "compose_stack_gate_failure": gate_failure}
