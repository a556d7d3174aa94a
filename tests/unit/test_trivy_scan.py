"""Unit tests of library/trivy_scan.py.

Trivy's database cannot be downloaded here, so the parsing and threshold logic
is tested on reports in Trivy's real JSON format (tests/unit/data/trivy/, see
its README), and the module's scan path on a stand-in ``trivy`` executable
that prints those reports and records the command line it was given.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import stat
import sys
from pathlib import Path

import pytest

import trivy_scan
from trivy_scan import (
    ReportError,
    blocking_message,
    check_ignores,
    evaluate,
    is_fixed,
    parse_report,
    resolve_images,
)

sys.path.insert(0, str(Path(__file__).parent))  # pytest.ini uses --import-mode=importlib
from fakes import run_module  # noqa: E402

DATA = Path(__file__).parent / "data" / "trivy"
TODAY = datetime.date(2025, 1, 15)


def report(name):
    return json.loads((DATA / name).read_text())


def parsed(name):
    return parse_report(report(name), name)[1]


def warnings(result, capfd):
    """The warnings' text. ansible-core 2.19 returns them as structured events in the result,
    or prints them on stderr once controller code was imported in the same session
    (e.g. ``ansible.errors`` by another test module): look at both."""
    return json.dumps(result.get("warnings", [])) + capfd.readouterr().err


def ids(vulns):
    return sorted((v["package"], v["id"]) for v in vulns)


# ------------------------------------------------------------------ parsing
def test_parse_os_and_lang_packages():
    image, vulns = parse_report(report("student_api.json"), "student_api.json")
    assert image == "labs/student_api:latest"
    assert len(vulns) == 14
    assert {v["class"] for v in vulns} == {"os-pkgs", "lang-pkgs"}
    expat = next(v for v in vulns if v["id"] == "CVE-2024-45490")
    assert expat == {
        "image": "labs/student_api:latest", "target": "labs/student_api:latest (debian 12.7)",
        "class": "os-pkgs", "type": "debian", "id": "CVE-2024-45490", "package": "libexpat1",
        "installed_version": "2.5.0-1", "fixed_version": "2.5.0-1+deb12u1", "status": "fixed",
        "severity": "CRITICAL", "title": "libexpat: Negative Length Parsing Vulnerability in libexpat",
        "primary_url": "https://avd.aquasec.com/nvd/cve-2024-45490"}
    gunicorn = next(v for v in vulns if v["package"] == "gunicorn")
    assert (gunicorn["class"], gunicorn["type"], gunicorn["fixed_version"]) == ("lang-pkgs", "python-pkg", "22.0.0")
    zlib = next(v for v in vulns if v["package"] == "zlib1g")
    assert (zlib["fixed_version"], zlib["status"]) == ("", "will_not_fix")
    # One CVE in two packages is two findings; a Debian TEMP- id is kept as it is.
    assert ids(v for v in vulns if v["id"] == "CVE-2022-0563") == [
        ("libblkid1", "CVE-2022-0563"), ("util-linux", "CVE-2022-0563")]
    assert any(v["id"] == "TEMP-0841856-B18BAF" for v in vulns)


def test_parse_results_without_vulnerabilities():
    assert len(parsed("api_backend.json")) == 3  # lang-pkgs result has no Vulnerabilities key
    assert parsed("website_clean.json") == []  # key absent, and null
    assert parse_report(report("registry_no_results.json"), "x") == ("labs/registry:latest", [])


def test_parse_refuses_other_formats():
    with pytest.raises(ReportError, match="before 0.20"):
        parse_report(report("legacy_list.json"), "legacy_list.json")
    doc = report("api_backend.json")
    doc["SchemaVersion"] = 1
    with pytest.raises(ReportError, match="SchemaVersion 1"):
        parse_report(doc, "r.json")
    del doc["SchemaVersion"]
    with pytest.raises(ReportError, match="SchemaVersion None"):
        parse_report(doc, "r.json")
    with pytest.raises(ReportError, match="JSON object"):
        parse_report("text", "r.json")
    doc = report("api_backend.json")
    del doc["Results"][0]["Vulnerabilities"][0]["PkgName"]
    with pytest.raises(ReportError, match="lacks PkgName"):
        parse_report(doc, "r.json")


def test_parse_unknown_severity_missing_fields_and_duplicates():
    doc = report("api_backend.json")
    vulns = doc["Results"][0]["Vulnerabilities"]
    vulns[0]["Severity"] = "NEGLIGIBLE"
    for key in ("FixedVersion", "Status", "Title", "PrimaryURL"):
        vulns[1].pop(key, None)
    vulns.append(copy.deepcopy(vulns[2]))  # the same finding twice
    del doc["ArtifactName"]
    image, found = parse_report(doc, "from-file.json")
    assert image == "from-file.json"
    assert len(found) == 3
    assert found[0]["severity"] == "UNKNOWN"
    assert (found[1]["fixed_version"], found[1]["status"], found[1]["title"]) == ("", "", "")


def test_is_fixed_follows_fixed_version_and_status():
    assert is_fixed({"fixed_version": "1.2", "status": "fixed"})
    assert is_fixed({"fixed_version": "1.2", "status": ""})  # reports without Status
    assert not is_fixed({"fixed_version": "", "status": "affected"})
    assert not is_fixed({"fixed_version": "", "status": ""})
    assert not is_fixed({"fixed_version": "1.2", "status": "will_not_fix"})


# --------------------------------------------------------------- threshold
def test_threshold_default_high():
    result = evaluate(parsed("student_api.json"), "high", today=TODAY)
    assert result["counts"] == {"CRITICAL": 2, "HIGH": 3, "MEDIUM": 3, "LOW": 6, "UNKNOWN": 0}
    assert ids(result["blocking"]) == [
        ("Werkzeug", "CVE-2024-34069"), ("gunicorn", "CVE-2024-1135"),
        ("libexpat1", "CVE-2024-45490"), ("perl-base", "CVE-2023-31484"), ("zlib1g", "CVE-2023-45853")]
    severities = [v["severity"] for v in result["vulnerabilities"]]
    assert severities == sorted(severities, key=trivy_scan.SEVERITIES.index, reverse=True)


@pytest.mark.parametrize("fail_on, blocking", [
    ("critical", 2), ("high", 5), ("medium", 8), ("low", 14), ("unknown", 14), ("none", 0)])
def test_threshold_levels(fail_on, blocking):
    assert len(evaluate(parsed("student_api.json"), fail_on, today=TODAY)["blocking"]) == blocking


def test_ignore_unfixed_keeps_only_what_can_be_upgraded():
    result = evaluate(parsed("student_api.json"), "high", ignore_unfixed=True, today=TODAY)
    assert result["unfixed_ignored"] == 10
    assert ids(result["vulnerabilities"]) == [
        ("Werkzeug", "CVE-2024-34069"), ("Werkzeug", "CVE-2024-49766"),
        ("gunicorn", "CVE-2024-1135"), ("libexpat1", "CVE-2024-45490")]
    assert len(result["blocking"]) == 3


def test_ignore_list_with_reasons_packages_expiry_and_unused():
    ignores = [
        {"id": "cve-2023-45853", "reason": "MiniZip is not used", "packages": [], "expires": None},
        {"id": "CVE-2022-0563", "reason": "no chfn/chsh in the image", "packages": ["util-linux"],
         "expires": "2025-01-15"},  # last day it applies
        {"id": "CVE-2023-31484", "reason": "CPAN is never run", "packages": [], "expires": "2025-01-14"},
        {"id": "CVE-2019-0001", "reason": "left over", "packages": [], "expires": None},
    ]
    result = evaluate(parsed("student_api.json"), "high", ignores=ignores, today=TODAY)
    assert [(v["package"], v["reason"]) for v in result["ignored"]] == [
        ("zlib1g", "MiniZip is not used"), ("util-linux", "no chfn/chsh in the image")]
    assert ("libblkid1", "CVE-2022-0563") in ids(result["vulnerabilities"])  # other package: kept
    assert result["ignores_expired"] == ["CVE-2023-31484"]
    assert ("perl-base", "CVE-2023-31484") in ids(result["blocking"])  # expired: not applied
    assert result["ignores_unused"] == ["CVE-2019-0001"]
    assert len(result["blocking"]) == 4


def test_per_image_counts_over_several_reports():
    vulns = parsed("student_api.json") + parsed("api_backend.json") + parsed("website_clean.json")
    result = evaluate(vulns, "critical", today=TODAY)
    assert result["per_image"] == {
        "labs/student_api:latest": {"CRITICAL": 2, "HIGH": 3, "MEDIUM": 3, "LOW": 6, "UNKNOWN": 0},
        "labs/api_backend:latest": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 0},
    }
    assert sum(result["counts"].values()) == 17


def test_blocking_message_is_readable_and_bounded():
    one = evaluate(parsed("student_api.json"), "critical", ignore_unfixed=True, today=TODAY)["blocking"]
    assert blocking_message(one, "critical") == (
        "1 vulnerability at or above CRITICAL: CRITICAL CVE-2024-45490 in libexpat1 2.5.0-1 -> "
        "2.5.0-1+deb12u1 (labs/student_api:latest)")
    many = [dict(one[0], id="CVE-2024-%04d" % n) for n in range(20)]
    message = blocking_message(many, "high")
    assert message.startswith("20 vulnerabilities at or above HIGH: ")
    assert message.endswith("... and 5 more (see blocking)")
    zlib = evaluate(parsed("student_api.json"), "critical", today=TODAY)["blocking"]
    assert "zlib1g 1:1.2.13.dfsg-1, no fix" in blocking_message(zlib, "critical")


def test_check_ignores():
    assert check_ignores([{"id": "CVE-1", "reason": "ok", "expires": "2025-12-31"}], TODAY) == []
    assert check_ignores([{"id": "CVE-1", "reason": " "}, {"id": "CVE-2", "reason": "r", "expires": "31/12/2025"},
                          {"id": "", "reason": "r"}], TODAY) == [
        "ignore[0] (CVE-1) needs a reason (a non-empty string)",
        "ignore[1] (CVE-2): expires '31/12/2025' is not a YYYY-MM-DD date",
        "ignore[2]: id is empty"]


# ------------------------------------------------------------------ images
LOCAL = [
    {"Id": "sha256:01", "RepoTags": ["labs/student_api:1.0.0", "labs/student_api:latest",
                                     "127.0.0.1:5001/labs/student_api:latest"]},
    {"Id": "sha256:02", "RepoTags": ["labs/student_api:dev", "labs/student_api:pytest"]},
    {"Id": "sha256:03", "RepoTags": ["labs/website:latest"]},
    {"Id": "sha256:04", "RepoTags": ["<none>:<none>"]},
    {"Id": "sha256:05", "RepoTags": None},
    {"Id": "sha256:06", "RepoTags": ["catest:latest"]},
]


def test_resolve_patterns_each_image_once():
    assert resolve_images(["labs/*"], LOCAL) == (
        ["labs/student_api:dev", "labs/student_api:latest", "labs/website:latest"], [])
    assert resolve_images(["labs/*:latest", "catest:latest", "labs/website:latest"], LOCAL) == (
        ["labs/student_api:latest", "labs/website:latest", "catest:latest"], [])
    assert resolve_images(["127.0.0.1:5001/labs/*"], LOCAL) == (
        ["127.0.0.1:5001/labs/student_api:latest"], [])
    assert resolve_images(["other/*", "labs/x:1"], LOCAL) == (["labs/x:1"], ["other/*"])


# ------------------------------------------------------------------ module
FAKE_TRIVY = r'''#!%(python)s
"""Stand-in for trivy: prints the report of FAKE_TRIVY_REPORTS/<image>.json."""
import json, os, sys
with open(os.environ["FAKE_TRIVY_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
if args[:1] == ["--version"]:
    print(json.dumps({"Version": "0.56.2", "VulnerabilityDB": {"Version": 2}}))
    sys.exit(0)
image = args[-1]
path = os.path.join(os.environ["FAKE_TRIVY_REPORTS"], image.replace("/", "_").replace(":", "_") + ".json")
if not os.path.exists(path):
    sys.stderr.write("FATAL  image scan error: unable to find the specified image %%r\n" %% image)
    sys.exit(1)
sys.stdout.write(open(path).read())
'''


@pytest.fixture
def fake_trivy(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    reports.mkdir()
    for image, name in (("labs/student_api:latest", "student_api.json"),
                        ("labs/api_backend:latest", "api_backend.json"),
                        ("labs/website:latest", "website_clean.json")):
        (reports / (image.replace("/", "_").replace(":", "_") + ".json")).write_text(
            (DATA / name).read_text())
    (reports / "labs_broken_latest.json").write_text("FATAL no json here")
    binary = tmp_path / "bin" / "trivy"
    binary.parent.mkdir()
    binary.write_text(FAKE_TRIVY % {"python": sys.executable})
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    cache = tmp_path / "cache"
    (cache / "db").mkdir(parents=True)
    (cache / "db" / "trivy.db").write_bytes(b"")
    (cache / "db" / "metadata.json").write_text(json.dumps(
        {"Version": 2, "NextUpdate": "2024-11-22T00:52:29Z", "UpdatedAt": "2024-11-21T18:52:29Z",
         "DownloadedAt": "2024-11-21T20:00:00Z"}))
    log = tmp_path / "trivy.log"
    monkeypatch.setenv("FAKE_TRIVY_REPORTS", str(reports))
    monkeypatch.setenv("FAKE_TRIVY_LOG", str(log))

    class Fake:
        path, cache_dir = str(binary), str(cache)

        @staticmethod
        def calls():
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return Fake


def test_module_scans_images_with_trivy_offline_and_fails_above_threshold(fake_trivy):
    result = run_module(trivy_scan, dict(
        images=["labs/student_api:latest", "labs/api_backend:latest"],
        trivy_path=fake_trivy.path, cache_dir=fake_trivy.cache_dir))
    assert result["failed"]
    assert result["msg"].startswith("5 vulnerabilities at or above HIGH: CRITICAL CVE-2024-45490 in libexpat1")
    assert result["scanned"] == ["labs/student_api:latest", "labs/api_backend:latest"]
    assert result["counts"] == {"CRITICAL": 2, "HIGH": 3, "MEDIUM": 5, "LOW": 7, "UNKNOWN": 0}
    assert result["trivy"]["version"] == "0.56.2"
    assert result["trivy"]["db"]["UpdatedAt"] == "2024-11-21T18:52:29Z"
    scans = [c for c in fake_trivy.calls() if c[0] == "image"]
    assert [c[-1] for c in scans] == ["labs/student_api:latest", "labs/api_backend:latest"]
    for flag in ("--skip-db-update", "--skip-java-db-update", "--offline-scan", "--quiet"):
        assert flag in scans[0]
    assert scans[0][scans[0].index("--format") + 1] == "json"
    assert scans[0][scans[0].index("--cache-dir") + 1] == fake_trivy.cache_dir
    assert scans[0][scans[0].index("--scanners") + 1] == "vuln"
    assert result["changed"] is False


def test_module_passes_with_unfixed_ignored_and_reasons(fake_trivy):
    args = dict(images=["labs/student_api:latest", "labs/website:latest"], trivy_path=fake_trivy.path,
                cache_dir=fake_trivy.cache_dir, ignore_unfixed=True, fail_on="high",
                ignore=[{"id": "CVE-2024-45490", "reason": "expat only parses our own config"},
                        {"id": "CVE-2024-1135", "reason": "gunicorn behind no proxy", "packages": ["gunicorn"]},
                        {"id": "CVE-2024-34069", "reason": "the debugger is never enabled",
                         "expires": "2999-12-31"}])
    result = run_module(trivy_scan, args)
    assert not result.get("failed"), result["msg"]
    assert result["blocking"] == [] and result["unfixed_ignored"] == 10
    assert [v["id"] for v in result["vulnerabilities"]] == ["CVE-2024-49766"]
    assert [i["reason"] for i in result["ignored"]] == [
        "expat only parses our own config", "gunicorn behind no proxy", "the debugger is never enabled"]
    assert result["msg"] == "2 scanned, CRITICAL 0, HIGH 0, MEDIUM 1, LOW 0, UNKNOWN 0"
    # Check mode: the same scan and the same answer (it only reads).
    checked = run_module(trivy_scan, args, check_mode=True)
    assert {k: checked[k] for k in ("counts", "scanned", "ignored")} == {
        k: result[k] for k in ("counts", "scanned", "ignored")}


def test_module_skips_clearly_without_trivy(tmp_path, capfd):
    result = run_module(trivy_scan, dict(images=["labs/student_api:latest", "labs/website:latest"],
                                         trivy_path=str(tmp_path / "no-trivy")))
    assert not result.get("failed")
    assert result["skipped"] is True
    assert result["not_scanned"] == ["labs/student_api:latest", "labs/website:latest"]
    assert result["unavailable_reason"].startswith("trivy binary not found at ")
    assert result["msg"].startswith("NOT SCANNED (2 images: labs/student_api:latest, labs/website:latest)")
    assert "NOT SCANNED (2 images" in warnings(result, capfd)
    assert result["scanned"] == [] and result["blocking"] == []


def test_module_fails_without_trivy_when_asked(tmp_path):
    result = run_module(trivy_scan, dict(images=["labs/student_api:latest"], when_unavailable="fail",
                                         trivy_path=str(tmp_path / "no-trivy")))
    assert result["failed"] and result["msg"].startswith("NOT SCANNED (1 image: labs/student_api:latest)")


def test_module_skips_without_database(fake_trivy, tmp_path):
    empty = tmp_path / "empty-cache"
    result = run_module(trivy_scan, dict(images=["labs/student_api:latest"], trivy_path=fake_trivy.path,
                                         cache_dir=str(empty)))
    assert result["skipped"] is True
    reason = result["unavailable_reason"]
    assert "database is not in %s/db (missing trivy.db and metadata.json)" % empty in reason
    assert "trivy image --download-db-only" in reason
    assert [c for c in fake_trivy.calls() if c[0] == "image"] == []  # never ran a scan


def test_module_finds_trivy_on_path_and_database_from_env(fake_trivy, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(fake_trivy.path).parent) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("TRIVY_CACHE_DIR", fake_trivy.cache_dir)
    result = run_module(trivy_scan, dict(images=["labs/website:latest"]))
    assert not result.get("failed") and not result.get("skipped"), result
    assert result["trivy"]["path"] == fake_trivy.path and result["scanned"] == ["labs/website:latest"]


def test_module_reports_trivy_errors(fake_trivy):
    common = dict(trivy_path=fake_trivy.path, cache_dir=fake_trivy.cache_dir)
    missing = run_module(trivy_scan, dict(images=["labs/missing:latest"], **common))
    assert missing["failed"] and "trivy failed on labs/missing:latest (exit 1)" in missing["msg"]
    assert "unable to find the specified image" in missing["msg"]
    broken = run_module(trivy_scan, dict(images=["labs/broken:latest"], **common))
    assert broken["failed"] and broken["msg"].startswith("trivy printed no JSON report for labs/broken:latest")


def test_module_evaluates_reports_without_trivy():
    ok = run_module(trivy_scan, dict(reports=[str(DATA / "api_backend.json"), str(DATA / "website_clean.json")]))
    assert not ok.get("failed") and ok["scanned"] == ["labs/api_backend:latest", "labs/website:latest"]
    assert ok["counts"]["MEDIUM"] == 2 and "skipped" not in ok
    bad = run_module(trivy_scan, dict(reports=[str(DATA / "student_api.json")], fail_on="critical"))
    assert bad["failed"] and bad["msg"].startswith("2 vulnerabilities at or above CRITICAL")
    legacy = run_module(trivy_scan, dict(reports=[str(DATA / "legacy_list.json")]))
    assert legacy["failed"] and "before 0.20" in legacy["msg"]


def test_module_resolves_patterns_through_docker(fake_trivy, monkeypatch, capfd):
    monkeypatch.setattr(trivy_scan, "list_local_images", lambda host: [
        {"Id": "sha256:1", "RepoTags": ["labs/api_backend:1.0.0", "labs/api_backend:latest"]},
        {"Id": "sha256:2", "RepoTags": ["labs/website:latest"]},
        {"Id": "sha256:3", "RepoTags": ["other/thing:latest"]}])
    result = run_module(trivy_scan, dict(images=["labs/*", "nomatch/*"], trivy_path=fake_trivy.path,
                                         cache_dir=fake_trivy.cache_dir))
    assert not result.get("failed"), result["msg"]
    assert result["scanned"] == ["labs/api_backend:latest", "labs/website:latest"]
    assert "no local image matches 'nomatch/*'" in warnings(result, capfd)


def test_module_argument_errors():
    neither = run_module(trivy_scan, dict())
    assert neither["failed"] and "images, reports" in neither["msg"]
    no_reason = run_module(trivy_scan, dict(reports=[str(DATA / "api_backend.json")],
                                            ignore=[{"id": "CVE-1", "reason": ""}]))
    assert no_reason["failed"] and "needs a reason" in no_reason["msg"]
    no_file = run_module(trivy_scan, dict(reports=["/nonexistent/report.json"]))
    assert no_file["failed"] and "cannot read Trivy report /nonexistent/report.json" in no_file["msg"]
