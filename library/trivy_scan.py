#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Scan container images with Trivy and fail above a severity threshold."""

from __future__ import annotations

DOCUMENTATION = r"""
module: trivy_scan
short_description: Scan images for known vulnerabilities with Trivy, fail above a severity
description:
  - Scans local container images with the C(trivy) binary (C(trivy image --format json)) and/or
    reads Trivy JSON reports made elsewhere (O(reports)), then applies O(ignore_unfixed) and the
    O(ignore) list and fails when a vulnerability at or above O(fail_on) remains.
  - "Reads Trivy's JSON report format, C(SchemaVersion) 2: C(Results[]) (class V(os-pkgs) or
    V(lang-pkgs), possibly without C(Vulnerabilities)), each vulnerability with C(VulnerabilityID),
    C(PkgName), C(InstalledVersion), C(FixedVersion), C(Status) and C(Severity)
    (V(UNKNOWN) < V(LOW) < V(MEDIUM) < V(HIGH) < V(CRITICAL))."
  - Never downloads anything. Trivy runs with C(--skip-db-update --skip-java-db-update --offline-scan),
    so its vulnerability database must already be in O(cache_dir) (C(db/trivy.db) and
    C(db/metadata.json)), put there by C(trivy image --download-db-only) on a machine that
    reaches the database's registry, or copied in.
  - When the binary or the database is missing, the module does not pretend the images are clean
    - with O(when_unavailable=skip) it returns C(skipped=true), RV(unavailable_reason) and
    RV(not_scanned), and warns; with O(when_unavailable=fail) it fails.
options:
  images:
    description:
      - Images to scan, by reference (V(labs/student_api:latest)) or by shell-style pattern on the
        local engine's tags (V(labs/*) scans every local image whose repository matches, each
        image ID once, preferring its V(latest) tag).
      - Patterns are resolved through the Docker SDK for Python; plain references are passed to
        Trivy as they are.
    type: list
    elements: str
    default: []
  reports:
    description:
      - Trivy JSON reports (C(trivy image --format json --output FILE)) to evaluate as if they had
        been scanned here. Needs no C(trivy) binary.
    type: list
    elements: path
    default: []
  fail_on:
    description:
      - Fail when a vulnerability of this severity or a higher one remains after O(ignore_unfixed)
        and O(ignore); V(none) never fails.
    type: str
    default: high
    choices: [none, unknown, low, medium, high, critical]
  ignore_unfixed:
    description:
      - "Leave out vulnerabilities that have no fixed version yet (no C(FixedVersion), or a
        C(Status) other than V(fixed) such as V(affected), V(will_not_fix), V(fix_deferred)):
        nothing can be upgraded to remove them. They are counted in RV(unfixed_ignored)."
    type: bool
    default: false
  ignore:
    description:
      - Accepted vulnerabilities, each with the reason it is accepted. An entry applies to every
        image unless O(ignore[].packages) narrows it.
      - An entry whose O(ignore[].expires) date has passed no longer applies (RV(ignores_expired)),
        so that an acceptance is reviewed; an entry that matched nothing is returned in
        RV(ignores_unused) so that it can be removed.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Vulnerability ID as Trivy reports it (V(CVE-2023-45853), V(GHSA-...), V(TEMP-...)).
        type: str
        required: true
      reason:
        description: Why it is accepted; returned with each vulnerability it hides.
        type: str
        required: true
      packages:
        description: Only in these packages (C(PkgName)); empty means any package.
        type: list
        elements: str
        default: []
      expires:
        description: Last day (V(YYYY-MM-DD)) on which the entry applies.
        type: str
  trivy_path:
    description:
      - Path of the C(trivy) binary. Looked up on E(PATH) (and C(/usr/local/bin), C(/usr/bin)) when not set.
    type: path
  cache_dir:
    description:
      - Trivy's cache directory, which holds the database in C(db/).
      - Defaults to E(TRIVY_CACHE_DIR), else C($XDG_CACHE_HOME/trivy), else C(~/.cache/trivy), as Trivy does.
    type: path
  when_unavailable:
    description:
      - What to do when the C(trivy) binary or its database is missing and there are images to scan.
      - V(skip) returns C(skipped=true) with the reason and the images not scanned, and warns.
      - V(fail) fails the task.
    type: str
    default: skip
    choices: [skip, fail]
  timeout:
    description: Seconds allowed for the scan of one image.
    type: int
    default: 600
  extra_args:
    description: More arguments for C(trivy image), for example V([--image-src, docker]).
    type: list
    elements: str
    default: []
  docker_host:
    description:
      - URL of the Docker Engine API, used to resolve patterns in O(images) and passed to Trivy.
      - The environment variable E(DOCKER_HOST) is used when the option is not set.
    # type and default: from the labs.docker fragment, which this description overrides.
extends_documentation_fragment:
  - labs
  - labs.read_only
  - labs.docker
attributes:
  check_mode:
    details:
      - The module only reads (Trivy only fills its own cache); it behaves the same in check mode.
requirements:
  - C(trivy) and its vulnerability database on the managed host, to scan O(images)
  - Docker SDK for Python (C(docker)) on the managed host, to resolve patterns in O(images)
notes:
  - The JSON report format is Trivy's C(SchemaVersion) 2 (Trivy 0.20 and later); older list-shaped
    reports are refused with a clear error.
seealso:
  - name: Trivy reporting formats
    description: Trivy's JSON report.
    link: https://trivy.dev/latest/docs/configuration/reporting/
author:
  - devops-labs project
"""

EXAMPLES = r"""
- name: Scan every project image, fail on HIGH and CRITICAL that have a fix
  trivy_scan:
    images: ["labs/*"]
    fail_on: high
    ignore_unfixed: true
    ignore:
      - id: CVE-2023-45853
        packages: [zlib1g]
        reason: MiniZip is not used by any app; Debian will not fix it in bookworm
        expires: "2026-06-30"
  register: scan

- name: Say what was found
  ansible.builtin.debug:
    msg: "{{ scan.counts }}"

- name: Evaluate a report made in CI on another machine, never fail
  trivy_scan:
    reports: [/srv/reports/student_api.json]
    fail_on: none

- name: Require the scanner (fail instead of skipping when Trivy or its database is missing)
  trivy_scan:
    images: [labs/student_api:latest]
    when_unavailable: fail
    cache_dir: /var/cache/trivy
"""

RETURN = r"""
skipped:
  description: True when there was something to scan but Trivy or its database is missing (O(when_unavailable=skip)).
  returned: when nothing could be scanned
  type: bool
  sample: true
unavailable_reason:
  description: Why Trivy could not run (binary or database missing); empty when it could.
  returned: always
  type: str
  sample: "trivy binary not found on PATH"
not_scanned:
  description: Images that were not scanned because Trivy was unavailable.
  returned: always
  type: list
  elements: str
  sample: [labs/student_api:latest, labs/website:latest]
scanned:
  description: Images scanned and reports read, as C(image) names (report files as their C(ArtifactName) or path).
  returned: always
  type: list
  elements: str
  sample: [labs/student_api:latest]
trivy:
  description: The Trivy binary, its version and the database's metadata; null when Trivy did not run.
  returned: always
  type: dict
  sample:
    path: /usr/local/bin/trivy
    version: 0.56.2
    db: {Version: 2, UpdatedAt: "2024-10-20T06:12:41Z", NextUpdate: "2024-10-21T06:12:41Z"}
vulnerabilities:
  description: Vulnerabilities left after O(ignore_unfixed) and O(ignore), most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    image:
      description: Image (or report artifact) it was found in.
      type: str
    target:
      description: Trivy's C(Target), e.g. the OS or the language file.
      type: str
    class:
      description: V(os-pkgs) or V(lang-pkgs).
      type: str
    type:
      description: Trivy's C(Type) of the result, e.g. V(debian) or V(python-pkg).
      type: str
    id:
      description: C(VulnerabilityID).
      type: str
    package:
      description: C(PkgName).
      type: str
    installed_version:
      description: C(InstalledVersion).
      type: str
    fixed_version:
      description: C(FixedVersion); empty when there is no fix.
      type: str
    status:
      description: Trivy's C(Status) (V(fixed), V(affected), V(will_not_fix)...); empty in old reports.
      type: str
    severity:
      description: V(UNKNOWN), V(LOW), V(MEDIUM), V(HIGH) or V(CRITICAL).
      type: str
    title:
      description: C(Title).
      type: str
    primary_url:
      description: C(PrimaryURL), the advisory's page.
      type: str
  sample:
    - image: labs/student_api:latest
      target: "labs/student_api:latest (debian 12.7)"
      class: os-pkgs
      type: debian
      id: CVE-2024-45490
      package: libexpat1
      installed_version: 2.5.0-1
      fixed_version: 2.5.0-1+deb12u1
      status: fixed
      severity: CRITICAL
      title: "libexpat: Negative Length Parsing Vulnerability in libexpat"
      primary_url: https://avd.aquasec.com/nvd/cve-2024-45490
blocking:
  description: The vulnerabilities of RV(vulnerabilities) at or above O(fail_on).
  returned: always
  type: list
  elements: dict
  sample: []
counts:
  description: Number of RV(vulnerabilities) per severity.
  returned: always
  type: dict
  sample: {CRITICAL: 0, HIGH: 1, MEDIUM: 3, LOW: 12, UNKNOWN: 0}
per_image:
  description: RV(counts) for each scanned image.
  returned: always
  type: dict
  sample: {"labs/student_api:latest": {CRITICAL: 0, HIGH: 1, MEDIUM: 3, LOW: 12, UNKNOWN: 0}}
ignored:
  description: Vulnerabilities hidden by O(ignore), each with its C(reason).
  returned: always
  type: list
  elements: dict
  sample: [{image: labs/student_api:latest, id: CVE-2023-45853, package: zlib1g, severity: CRITICAL,
            reason: MiniZip is not used by any app}]
unfixed_ignored:
  description: Number of vulnerabilities left out by O(ignore_unfixed).
  returned: always
  type: int
  sample: 42
ignores_unused:
  description: IDs of O(ignore) entries that matched no vulnerability of the scanned images.
  returned: always
  type: list
  elements: str
  sample: [CVE-2019-0001]
ignores_expired:
  description: IDs of O(ignore) entries whose O(ignore[].expires) date has passed (they were not applied).
  returned: always
  type: list
  elements: str
  sample: []
"""

import datetime
import fnmatch
import json
import os

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible.module_utils.labs_docker import DEFAULT_DOCKER_HOST, DockerAccessError, docker_argument_spec, get_client

ARGUMENT_SPEC = dict(
    images=dict(type="list", elements="str", default=[]),
    reports=dict(type="list", elements="path", default=[]),
    fail_on=dict(type="str", default="high",
                 choices=["none", "unknown", "low", "medium", "high", "critical"]),
    ignore_unfixed=dict(type="bool", default=False),
    ignore=dict(type="list", elements="dict", default=[], options=dict(
        id=dict(type="str", required=True),
        reason=dict(type="str", required=True),
        packages=dict(type="list", elements="str", default=[]),
        expires=dict(type="str"),
    )),
    trivy_path=dict(type="path"),
    cache_dir=dict(type="path", fallback=(env_fallback, ["TRIVY_CACHE_DIR"])),
    when_unavailable=dict(type="str", default="skip", choices=["skip", "fail"]),
    timeout=dict(type="int", default=600),
    extra_args=dict(type="list", elements="str", default=[]),
    **docker_argument_spec(),
)

SEVERITIES = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]  # increasing
SUPPORTED_SCHEMA = 2
PATTERN_CHARS = "*?["
# Shown in a failure message; the full list is in the result.
MESSAGE_LIMIT = 15


class ReportError(Exception):
    """A report that is not Trivy's JSON format (SchemaVersion 2)."""


# ------------------------------------------------------------------ reports
def _text(value):
    return "" if value is None else str(value)


def parse_report(doc, source):
    """Flat vulnerability dicts of one Trivy JSON report (already decoded).

    ``source`` names the report in error messages and is the image name when
    the report has no ArtifactName.
    """
    if isinstance(doc, list):
        raise ReportError("%s: a list-shaped report (Trivy before 0.20, no SchemaVersion) is not "
                          "supported; produce it with a current trivy" % source)
    if not isinstance(doc, dict):
        raise ReportError("%s: not a Trivy JSON report (a JSON object is expected)" % source)
    if doc.get("SchemaVersion") != SUPPORTED_SCHEMA:
        raise ReportError("%s: unsupported Trivy report SchemaVersion %r (this module reads %d)"
                          % (source, doc.get("SchemaVersion"), SUPPORTED_SCHEMA))
    image = _text(doc.get("ArtifactName")) or source
    results = doc.get("Results") or []  # absent when nothing was found in some scans
    if not isinstance(results, list):
        raise ReportError("%s: Results must be a list" % source)
    found, seen = [], set()
    for result in results:
        if not isinstance(result, dict):
            raise ReportError("%s: every entry of Results must be an object" % source)
        for vuln in result.get("Vulnerabilities") or []:
            missing = [k for k in ("VulnerabilityID", "PkgName") if not vuln.get(k)]
            if missing:
                raise ReportError("%s: a vulnerability of %r lacks %s"
                                  % (source, result.get("Target"), ", ".join(missing)))
            severity = _text(vuln.get("Severity")).upper()
            entry = dict(
                image=image,
                target=_text(result.get("Target")),
                **{"class": _text(result.get("Class"))},
                type=_text(result.get("Type")),
                id=_text(vuln["VulnerabilityID"]),
                package=_text(vuln["PkgName"]),
                installed_version=_text(vuln.get("InstalledVersion")),
                fixed_version=_text(vuln.get("FixedVersion")),
                status=_text(vuln.get("Status")),
                severity=severity if severity in SEVERITIES else "UNKNOWN",
                title=_text(vuln.get("Title")),
                primary_url=_text(vuln.get("PrimaryURL")),
            )
            key = (entry["image"], entry["target"], entry["id"], entry["package"],
                   entry["installed_version"])
            if key not in seen:
                seen.add(key)
                found.append(entry)
    return image, found


def is_fixed(vuln):
    """A fixed version exists (and Trivy, when it says, agrees the status is fixed)."""
    return bool(vuln["fixed_version"]) and vuln["status"] in ("", "fixed")


def check_ignores(ignores, today):
    """Error messages for malformed ``ignore`` entries; empty when they are fine."""
    errors = []
    for number, entry in enumerate(ignores):
        label = "ignore[%d] (%s)" % (number, entry.get("id"))
        if not (entry.get("id") or "").strip():
            errors.append("ignore[%d]: id is empty" % number)
        if not (entry.get("reason") or "").strip():
            errors.append("%s needs a reason (a non-empty string)" % label)
        if entry.get("expires"):
            try:
                datetime.date.fromisoformat(str(entry["expires"]))
            except ValueError:
                errors.append("%s: expires %r is not a YYYY-MM-DD date" % (label, entry["expires"]))
    return errors


def evaluate(vulns, fail_on="high", ignore_unfixed=False, ignores=(), today=None):
    """Apply the filters and the threshold to flat vulnerability dicts.

    Returns the result keys: vulnerabilities, blocking, counts, per_image,
    ignored, unfixed_ignored, ignores_unused, ignores_expired.
    """
    today = today or datetime.date.today()
    active, expired = [], []
    for entry in ignores:
        if entry.get("expires") and datetime.date.fromisoformat(str(entry["expires"])) < today:
            expired.append(entry["id"])
        else:
            active.append(entry)
    used = set()
    kept, ignored, unfixed = [], [], 0
    for vuln in vulns:
        if ignore_unfixed and not is_fixed(vuln):
            unfixed += 1
            continue
        match = None
        for number, entry in enumerate(active):
            if entry["id"].strip().upper() == vuln["id"].upper() and (
                    not entry.get("packages") or vuln["package"] in entry["packages"]):
                match = number
                break
        if match is not None:
            used.add(match)
            ignored.append(dict(vuln, reason=active[match]["reason"]))
        else:
            kept.append(vuln)
    kept.sort(key=lambda v: (-SEVERITIES.index(v["severity"]), v["image"], v["package"], v["id"]))
    floor = None if fail_on == "none" else SEVERITIES.index(fail_on.upper())
    blocking = [v for v in kept if floor is not None and SEVERITIES.index(v["severity"]) >= floor]
    per_image = {}
    for vuln in kept:
        per_image.setdefault(vuln["image"], _zero())[vuln["severity"]] += 1
    return dict(
        vulnerabilities=kept,
        blocking=blocking,
        counts=count(kept),
        per_image=per_image,
        ignored=ignored,
        unfixed_ignored=unfixed,
        ignores_unused=[e["id"] for n, e in enumerate(active) if n not in used],
        ignores_expired=expired,
    )


def _zero():
    return dict((severity, 0) for severity in SEVERITIES)


def count(vulns):
    counts = _zero()
    for vuln in vulns:
        counts[vuln["severity"]] += 1
    return counts


def blocking_message(blocking, fail_on):
    lines = ["%s %s in %s %s%s (%s)" % (
        v["severity"], v["id"], v["package"], v["installed_version"],
        " -> " + v["fixed_version"] if v["fixed_version"] else ", no fix",
        v["image"]) for v in blocking[:MESSAGE_LIMIT]]
    more = len(blocking) - MESSAGE_LIMIT
    if more > 0:
        lines.append("... and %d more (see blocking)" % more)
    return "%d vulnerabilit%s at or above %s: %s" % (
        len(blocking), "y" if len(blocking) == 1 else "ies", fail_on.upper(), "; ".join(lines))


# ------------------------------------------------------------------ images
def is_pattern(reference):
    return any(c in reference for c in PATTERN_CHARS)


def _repository(tag):
    """'host:5000/labs/app:1.0' -> 'host:5000/labs/app'."""
    slash = tag.rfind("/")
    colon = tag.rfind(":")
    return tag[:colon] if colon > slash else tag


def resolve_images(references, local_images):
    """Expand patterns against the local images (dicts with Id and RepoTags).

    A pattern without a tag matches the repository (V(labs/*) matches every tag of
    labs/...); each image ID is taken once, by its V(latest) tag when it has one.
    Returns (references to scan, patterns that matched nothing).
    """
    wanted, unmatched = [], []
    for reference in references:
        if not is_pattern(reference):
            if reference not in wanted:
                wanted.append(reference)
            continue
        has_tag = reference.rfind(":") > reference.rfind("/")
        chosen = []
        for image in sorted(local_images, key=lambda i: i.get("Id", "")):
            tags = [t for t in image.get("RepoTags") or [] if t and t != "<none>:<none>"]
            matching = sorted(t for t in tags
                              if fnmatch.fnmatchcase(t if has_tag else _repository(t), reference))
            if matching:
                latest = [t for t in matching if t.endswith(":latest")]
                chosen.append((latest or matching)[0])
        if not chosen:
            unmatched.append(reference)
        for tag in sorted(chosen):
            if tag not in wanted:
                wanted.append(tag)
    return wanted, unmatched


def list_local_images(docker_host):
    client = get_client(docker_host)
    try:
        return client.api.images()
    except Exception as exc:  # docker.errors.APIError and transport errors
        raise DockerAccessError("cannot list the local images: %s" % exc)


# ------------------------------------------------------------------ trivy
def default_cache_dir(environ=None):
    environ = os.environ if environ is None else environ
    if environ.get("TRIVY_CACHE_DIR"):
        return environ["TRIVY_CACHE_DIR"]
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "trivy")


def database_problem(cache_dir):
    """Why the database in ``cache_dir`` is unusable, or '' when it is there."""
    db = os.path.join(cache_dir, "db")
    missing = [name for name in ("trivy.db", "metadata.json")
               if not os.path.isfile(os.path.join(db, name))]
    if missing:
        return ("Trivy's vulnerability database is not in %s (missing %s). This module never "
                "downloads it: run 'trivy image --download-db-only --cache-dir %s' where the "
                "database registry is reachable, or copy db/trivy.db and db/metadata.json there"
                % (db, " and ".join(missing), cache_dir))
    return ""


def database_metadata(cache_dir):
    try:
        with open(os.path.join(cache_dir, "db", "metadata.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def trivy_version(module, trivy):
    rc, out, _err = module.run_command([trivy, "--version", "--format", "json"])
    if rc == 0:
        try:
            return str(json.loads(out).get("Version", ""))
        except (ValueError, AttributeError):
            pass
    rc, out, _err = module.run_command([trivy, "--version"])
    for line in out.splitlines():
        if line.lower().startswith("version:"):
            return line.split(":", 1)[1].strip()
    return ""


def scan_command(trivy, image, cache_dir, timeout, extra_args):
    return ([trivy, "image", "--format", "json", "--quiet", "--scanners", "vuln",
             "--skip-db-update", "--skip-java-db-update", "--offline-scan",
             "--cache-dir", cache_dir, "--timeout", "%ds" % timeout]
            + list(extra_args) + [image])


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    params = module.params
    errors = check_ignores(params["ignore"], datetime.date.today())
    if not params["images"] and not params["reports"]:
        errors.append("one of images, reports is required (and not empty)")
    if params["timeout"] <= 0:
        errors.append("timeout must be greater than 0")
    if errors:
        module.fail_json(msg="invalid arguments: " + "; ".join(errors))

    result = dict(changed=False, unavailable_reason="", not_scanned=[], scanned=[], trivy=None)
    vulns = []

    for path in params["reports"]:
        try:
            with open(path, "rb") as handle:
                doc = json.loads(handle.read().decode("utf-8"))
            image, found = parse_report(doc, path)
        except (OSError, ValueError) as exc:
            module.fail_json(msg="cannot read Trivy report %s: %s" % (path, exc), **result)
        except ReportError as exc:
            module.fail_json(msg=str(exc), **result)
        result["scanned"].append(image)
        vulns.extend(found)

    images = []
    if params["images"]:
        try:
            local = (list_local_images(params["docker_host"])
                     if any(is_pattern(i) for i in params["images"]) else [])
        except DockerAccessError as exc:
            module.fail_json(msg="cannot resolve image patterns %s: %s"
                                 % (", ".join(i for i in params["images"] if is_pattern(i)), exc),
                             **result)
        images, unmatched = resolve_images(params["images"], local)
        for pattern in unmatched:
            module.warn("no local image matches %r" % pattern)

    if images:
        trivy = params["trivy_path"] or module.get_bin_path("trivy", opt_dirs=["/usr/local/bin", "/usr/bin"])
        cache_dir = params["cache_dir"] or default_cache_dir()
        if not trivy or not os.access(trivy, os.X_OK):
            reason = ("trivy binary not found%s: install Trivy (https://trivy.dev) to scan images"
                      % (" at %s" % params["trivy_path"] if params["trivy_path"] else " on PATH"))
        else:
            reason = database_problem(cache_dir)
        if reason:
            result.update(unavailable_reason=reason, not_scanned=images)
            message = "NOT SCANNED (%d image%s: %s): %s" % (
                len(images), "" if len(images) == 1 else "s", ", ".join(images), reason)
            if params["when_unavailable"] == "fail":
                module.fail_json(msg=message, **result)
            module.warn(message)
            if not params["reports"]:
                result.update(evaluate([], params["fail_on"]))
                module.exit_json(skipped=True, msg=message, **result)
        else:
            result["trivy"] = dict(path=trivy, version=trivy_version(module, trivy),
                                   db=database_metadata(cache_dir), cache_dir=cache_dir)
            environ = {"TRIVY_NO_PROGRESS": "true"}
            if params["docker_host"] and params["docker_host"] != DEFAULT_DOCKER_HOST:
                environ["DOCKER_HOST"] = params["docker_host"]
            for image in images:
                command = scan_command(trivy, image, cache_dir, params["timeout"], params["extra_args"])
                rc, out, err = module.run_command(command, environ_update=environ)
                if rc != 0:
                    module.fail_json(msg="trivy failed on %s (exit %d): %s"
                                         % (image, rc, (err or out).strip()[-2000:]),
                                     cmd=command, **result)
                try:
                    _name, found = parse_report(json.loads(out), image)
                except ValueError as exc:
                    module.fail_json(msg="trivy printed no JSON report for %s: %s" % (image, exc),
                                     cmd=command, **result)
                except ReportError as exc:
                    module.fail_json(msg=str(exc), cmd=command, **result)
                for vuln in found:
                    vuln["image"] = image  # the name asked for, whatever ArtifactName says
                result["scanned"].append(image)
                vulns.extend(found)

    result.update(evaluate(vulns, params["fail_on"], params["ignore_unfixed"], params["ignore"]))
    for ignore_id in result["ignores_expired"]:
        module.warn("ignore entry %s has expired and was not applied: review it" % ignore_id)
    summary = "%d scanned, %s" % (len(result["scanned"]), ", ".join(
        "%s %d" % (s, result["counts"][s]) for s in reversed(SEVERITIES)))
    if result["blocking"]:
        module.fail_json(msg=blocking_message(result["blocking"], params["fail_on"]), **result)
    module.exit_json(msg=summary, **result)


if __name__ == "__main__":
    main()
