"""No credential in git.

Every git-tracked file is scanned for known weak credentials and secret
material (rules below). A few files mention the labs' published ``root:root``
precisely to refuse it; they are listed in ALLOW_LIST with their reason, one
entry per (path, rule), so such a file is still checked for every other rule.
A new occurrence anywhere else fails, and so does an allow-list entry that no
longer matches anything (it must be removed, not left to hide a future leak).

The scanner itself is tested on synthetic input (the ``test_scanner_*`` tests):
each rule fires, the look-alikes that are not credentials do not, and an
occurrence outside the allow-list is reported. The synthetic secrets are built
at run time so that this file holds none of them.

Run on untracked files as well (before ``git add``):
``NO_SECRETS_INCLUDE_UNTRACKED=1 pytest tests/test_no_secrets.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------- rules
# Default and vendor credentials that scanners and people try first.
WEAK_PASSWORDS = (
    "root", "toor", "admin", "administrator", "password", "passw0rd", "p@ssw0rd",
    "changeme", "change_me", "secret", "123456", "12345678", "123456789", "qwerty",
    "letmein", "default", "guest", "raspberry",
)
WEAK_USERS = ("root", "admin", "administrator", "guest", "user", "test", "postgres",
              "sa", "pi", "ubuntu", "student")
_WEAK = "|".join(re.escape(p) for p in WEAK_PASSWORDS)
# In program code an unquoted word after ``password=`` is a variable, not a literal.
CODE_SUFFIXES = {".py", ".js", ".ts", ".php", ".go", ".rb", ".java", ".rs", ".c", ".h"}
# Files where ``key: value`` / ``KEY=value`` is configuration, i.e. deployed as written.
CONFIG_SUFFIXES = {".yml", ".yaml", ".env", ".ini", ".cfg", ".conf", ".properties", ".toml"}
CONFIG_NAMES = {"Dockerfile", ".env", "hosts"}

PRIVATE_KEY = re.compile(r"-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----")
AWS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")
AWS_SECRET = re.compile(
    r"aws_secret_access_key[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])", re.I)
WEAK_PAIR = re.compile(
    r"(?<![\w.-])(?P<user>%s):(?P<password>%s)(?![\w.-])"
    % ("|".join(WEAK_USERS), "|".join(re.escape(p) for p in WEAK_PASSWORDS + WEAK_USERS)), re.I)
WEAK_ASSIGNMENT = re.compile(
    r"(?P<key>[\w.-]*(?:pass(?:word|wd)?|pwd))[\"']?\s*(?:=>|=|:)\s*"
    r"(?P<quote>[\"']?)(?P<value>%s)(?P=quote)(?![\w@.$/-])" % _WEAK, re.I)
# A password-like key given a literal value in a configuration file.
CONFIG_ASSIGNMENT = re.compile(
    r"(?:^|[\s{,(])(?:export\s+|ENV\s+)?(?P<kq>[\"']?)"
    r"(?P<key>[\w.-]*(?:password|passwd|pwd|secret|secret_key|token|api_key|access_key))"
    r"(?P=kq)\s*(?P<op>:|(?<![=!<>])=(?!=))\s*(?P<value>\"[^\"]*\"|'[^']*'|[^\s,}#]+)", re.I)
# user:group ownership, not a credential: after chown / --chown=, or followed by a file mode.
OWNERSHIP_BEFORE = re.compile(r"(?:\bchown(?:\s+-{1,2}[\w-]+)*\s+|--chown=)$")
OWNERSHIP_AFTER = re.compile(r"^`?,?\s+(?:mode\s+)?0?[0-7]{3}\b")
# Empty, YAML block indicators, booleans, a vault value, and explicit placeholders (moto's "testing").
NOT_A_LITERAL = re.compile(
    r"""^(?:|\||>|\|-|>-|\|\+|>\+|true|false|yes|no|null|none|~|omit|\[\]|\{\}|!vault.*"""
    r"""|testing|dummy|fake|example|placeholder|redacted|x+|\*+)$""", re.I)
IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]*$")
# A stack declaration's secret: `name: {value: <the value>, uid: N}` (YAML) or `'name': {'value': <expr>}` (Jinja).
FLOW_VALUE = re.compile(r"""^\{\s*(?P<q>["']?)value(?P=q)\s*:\s*(?P<inner>"[^"]*"|'[^']*'|[^\s,}#]+)""")
# secret_env: {VAR: <name of a stack secret>}: the values name secrets, they are not secrets.
SECRET_ENV = re.compile(r"\bsecret_env:\s*\{")
REFERENCE = re.compile(r"\{\{|\{%|\$|%\(|lookup\(|<[\w-]+>|\.\.\.|^\*+$")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    excerpt: str  # the line with the secret masked

    def __str__(self):
        return "%s:%d: [%s] %s" % (self.path, self.line, self.rule, self.excerpt)


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    find: Callable[[str, str], Iterable[Tuple[int, int]]]  # (path, line) -> spans


def _spans(pattern, group=0, keep=None):
    def find(path, line):
        for match in pattern.finditer(line):
            if keep is None or keep(path, line, match):
                yield match.span(group)
    return find


def _suffix(path):
    return PurePosixPath(path).suffix.lower()


def _is_config(path):
    name = PurePosixPath(path).name
    return (_suffix(path) in CONFIG_SUFFIXES or name in CONFIG_NAMES
            or name.startswith("Dockerfile") or name.endswith((".yml.j2", ".yaml.j2", ".env.j2")))


def _not_ownership(path, line, match):
    return not (OWNERSHIP_BEFORE.search(line[:match.start()])
                or OWNERSHIP_AFTER.search(line[match.end():]))


def _weak_assignment(path, line, match):
    return bool(match.group("quote")) or _suffix(path) not in CODE_SUFFIXES


def _config_literal(path, line, match):
    if not _is_config(path):
        return False
    value = match.group("value").strip()
    if value[:1] in "\"'" and value[-1:] == value[:1]:
        value = value[1:-1].strip()
    key = match.group("key").lower()
    if match.group("op") == ":" and _suffix(path) not in {".yml", ".yaml", ".j2"}:
        return False  # "a: b" is only an assignment in YAML
    if value.startswith("{"):
        flow = FLOW_VALUE.match(line[match.start("value"):])
        if not flow:
            return False  # a mapping whose own keys are scanned as assignments
        inner = flow.group("inner")
        quoted = inner[:1] in "\"'"
        inner = inner.strip("\"'").strip()
        if match.group("kq") and not quoted and IDENTIFIER.match(inner):
            return False  # {'name': {'value': variable}}: a Jinja expression
        return not (NOT_A_LITERAL.match(inner) or REFERENCE.search(inner))
    if SECRET_ENV.search(line[:match.start("key")]) or key.endswith("password_secret"):
        return False  # names a stack secret
    if match.group("kq") and match.group("value")[:1] not in "\"'" and IDENTIFIER.match(value):
        return False  # {'KEY': variable}: a dict literal in a Jinja expression
    return not (NOT_A_LITERAL.match(value) or REFERENCE.search(value)
                or key.endswith(("_file", "_path", "_dir")))


RULES = (
    Rule("private-key", "a PEM/OpenSSH/PGP private key", _spans(PRIVATE_KEY)),
    Rule("aws-access-key-id", "an AWS access key id (AKIA.../ASIA...)", _spans(AWS_KEY_ID)),
    Rule("aws-secret-access-key", "an AWS secret access key", _spans(AWS_SECRET, "value")),
    Rule("weak-credential-pair", "a default user and password pair such as the labs' published one",
         _spans(WEAK_PAIR, keep=_not_ownership)),
    Rule("weak-password", "a password set to a well-known weak value",
         _spans(WEAK_ASSIGNMENT, "value", keep=_weak_assignment)),
    Rule("config-password-literal", "a literal password/secret/token in a configuration file "
         "(use the generated secret, a variable or Ansible Vault)",
         _spans(CONFIG_ASSIGNMENT, "value", keep=_config_literal)),
)
RULE_IDS = {rule.id for rule in RULES}


def _mask(line, spans):
    masked = line
    for start, end in sorted(spans, reverse=True):
        secret = line[start:end]
        masked = masked[:start] + secret[:2] + "*" * max(len(secret) - 2, 1) + masked[end:]
    return masked.strip()[:160]


def scan_text(path: str, text: str) -> List[Finding]:
    """Every rule's findings in ``text`` (the content of ``path``)."""
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        claimed = []  # a span found by an earlier (more specific) rule is reported once
        for rule in RULES:
            spans = [span for span in rule.find(path, line)
                     if not any(span[0] < end and start < span[1] for start, end in claimed)]
            if spans:
                claimed.extend(spans)
                findings.append(Finding(path, number, rule.id, _mask(line, spans)))
    return findings


MAX_BYTES = 2 * 1024 * 1024


def scan_files(root: Path, paths: Iterable[str]) -> List[Finding]:
    findings = []
    for path in paths:
        full = root / path
        if not full.is_file() or full.is_symlink():
            continue  # deleted in the work tree, or a link (its target is scanned itself)
        data = full.read_bytes()[:MAX_BYTES]
        if b"\0" in data[:8192]:
            continue  # binary
        findings.extend(scan_text(path, data.decode("utf-8", "replace")))
    return findings


# ---------------------------------------------------------------- allow-list
@dataclass(frozen=True)
class Allowed:
    path: str
    rule: str
    reason: str


ALLOW_LIST = (
    Allowed("apps/student_api/README.md", "weak-credential-pair",
            "documents that the API refuses the labs' root:root"),
    Allowed("apps/student_api/student_api/config.py", "weak-credential-pair",
            "the error message of the check that refuses root:root"),
    Allowed("apps/student_api/student_api/serve.py", "weak-credential-pair",
            "docstring: the launcher exits on the labs' root:root"),
    Allowed("apps/student_api/tests/test_student_api_config.py", "weak-credential-pair",
            "asserts that root:root is refused"),
    Allowed("apps/student_api/tests/test_student_api_config.py", "weak-password",
            "passes root:root to prove it is refused"),
    Allowed("apps/student_api/tests/test_student_api_image.py", "weak-credential-pair",
            "asserts that the image refuses root:root"),
    Allowed("apps/student_api/tests/test_student_api_image.py", "weak-password",
            "passes root:root to the image to prove it is refused"),
    Allowed("apps/student_api/tests/test_student_api_server.py", "weak-credential-pair",
            "asserts that the server refuses root:root"),
    Allowed("apps/student_api/tests/test_student_api_server.py", "weak-password",
            "passes root:root to the server to prove it is refused"),
    Allowed("molecule/student_app/verify.yml", "weak-credential-pair",
            "names the root:root request that must get 401"),
    Allowed("molecule/student_app/verify.yml", "weak-password",
            "sends root:root and expects 401"),
    Allowed("roles/student_app/README.md", "weak-credential-pair",
            "documents that the role refuses root:root"),
    Allowed("roles/student_app/defaults/main.yml", "weak-credential-pair",
            "comment: root:root is refused"),
    Allowed("roles/student_app/tasks/main.yml", "weak-credential-pair",
            "the message of the assert that refuses root:root"),
    Allowed("tests/unit/test_labs_http.py", "weak-password",
            "a dummy password sent to the test's own HTTP server on 127.0.0.1"),
    Allowed("tests/test_no_secrets.py", "weak-credential-pair",
            "this scanner's docstring and allow-list reasons name the refused pair"),
    Allowed("SECURITY.md", "weak-credential-pair",
            "documents the refusal of root:root and this very scanner"),
)


def apply_allow_list(findings, allow_list=ALLOW_LIST):
    """(findings not allowed, the allow-list entries that matched something)."""
    allowed = {(a.path, a.rule): a for a in allow_list}
    kept, used = [], set()
    for finding in findings:
        entry = allowed.get((finding.path, finding.rule))
        if entry:
            used.add(entry)
        else:
            kept.append(finding)
    return kept, used


def git_files(root: Path, include_untracked: bool = False) -> Optional[List[str]]:
    """Paths of the tracked files (plus untracked, not ignored ones), or None without git."""
    if not shutil.which("git") or not (root / ".git").exists():
        return None
    command = ["git", "-C", str(root), "ls-files", "-z", "--cached"]
    if include_untracked:
        command += ["--others", "--exclude-standard"]
    out = subprocess.run(command, check=True, capture_output=True).stdout
    return sorted(set(p for p in out.decode("utf-8", "surrogateescape").split("\0") if p))


INCLUDE_UNTRACKED = os.environ.get("NO_SECRETS_INCLUDE_UNTRACKED", "") not in ("", "0", "false")


@pytest.fixture(scope="module")
def repo_findings():
    paths = git_files(ROOT, INCLUDE_UNTRACKED)
    if paths is None:
        pytest.skip("not a git work tree (or git is missing): nothing tracked to scan")
    return paths, scan_files(ROOT, paths)


# ------------------------------------------------------------- the real tree
def test_no_secret_in_git(repo_findings):
    paths, findings = repo_findings
    assert len(paths) > 50, "git ls-files listed only %d files" % len(paths)
    kept, _ = apply_allow_list(findings)
    assert not kept, (
        "credentials or secret material in git (secret masked). Remove it (generated secrets "
        "live in .secrets/, bring your own through Ansible Vault, see SECURITY.md); if it is "
        "a mention that refuses a weak credential, add (path, rule, reason) to ALLOW_LIST in "
        "tests/test_no_secrets.py:\n" + "\n".join(str(f) for f in kept))


def test_allow_list_is_small_explained_and_used(repo_findings):
    paths, findings = repo_findings
    _, used = apply_allow_list(findings)
    assert len(ALLOW_LIST) <= 25, "the allow-list is for refusals, not a dumping ground"
    for entry in ALLOW_LIST:
        assert entry.rule in RULE_IDS, entry
        assert len(entry.reason.split()) >= 3, "give a real reason: %s" % (entry,)
    assert len({(a.path, a.rule) for a in ALLOW_LIST}) == len(ALLOW_LIST), "duplicate entries"
    tracked = set(paths)
    stale = [a for a in ALLOW_LIST if a not in used and a.path in tracked]
    assert not stale, "allow-list entries that match nothing any more, remove them: %s" % stale


# ------------------------------------------------------- the scanner itself
R, A = "ro" + "ot", "ad" + "min"  # built here so that this file holds no weak pair
PEM = "-----BEGIN " + "%sPRIVATE KEY-----"
KEY_ID = "AK" + "IA" + "Z7Q2XW4PLM3NB6VD"


def rules_of(path, line):
    return sorted({f.rule for f in scan_text(path, line)})


@pytest.mark.parametrize("path, line, rule", [
    ("notes.md", "log in with %s:%s" % (R, R), "weak-credential-pair"),
    ("app/README.md", "curl -u %s:%s http://127.0.0.1:5000/" % (A, A), "weak-credential-pair"),
    ("deploy.sh", "curl http://%s:password@127.0.0.1/" % A, "weak-credential-pair"),
    ("x/compose.yml", "      - POSTGRES_PASSWORD=changeme", "weak-password"),
    ("x/app.env", "DB_PASSWD=%s" % R, "weak-password"),
    ("x/settings.py", 'connect(password="%s")' % A, "weak-password"),
    ("x/settings.py", "PASSWORD = '%s'" % ("Pass" + "w0rd"), "weak-password"),
    ("inventory/x/group_vars/all.yml", "student_app_api_password: Tr0ub4dor3xyz", "config-password-literal"),
    ("inventory/x/group_vars/all.yml", 'registry_password: "hunter2-long"', "config-password-literal"),
    ("x/Dockerfile", "ENV API_TOKEN=abcdef0123456789", "config-password-literal"),
    ("x/vars.yml", "       'REGISTRY_HTTP_SECRET': 'l1teral-in-jinja',", "config-password-literal"),
    ("x/.env", "export SECRET_KEY='s0me-l1teral'", "config-password-literal"),
    ("x/verify.yml", "- {url: x, user: bob, password: n0tAVariable, status: 200}", "config-password-literal"),
    ("roles/x/defaults/main.yml", "    db_password: {value: n0tAVariable, uid: 999}", "config-password-literal"),
    ("roles/x/vars/main.yml", "  {{ {'db_password': {'value': 'l1teral-in-jinja'}} }}", "config-password-literal"),
    ("x/setup.sh", "psql postgresql://postgres:postgres@127.0.0.1/db", "weak-credential-pair"),
    ("keys/id_rsa", PEM % "RSA ", "private-key"),
    ("keys/ssh", PEM % "OPENSSH ", "private-key"),
    ("keys/tls.pem", PEM % "", "private-key"),
    ("keys/ec.pem", PEM % "EC ", "private-key"),
    ("aws/config.ini", "aws_access_key_id = %s" % KEY_ID, "aws-access-key-id"),
    ("aws/creds", "aws_secret_access_key=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY", "aws-secret-access-key"),
])
def test_scanner_finds_each_rule(path, line, rule):
    assert rule in rules_of(path, line), scan_text(path, line)


@pytest.mark.parametrize("path, line", [
    ("x/Dockerfile", "RUN chown %s:%s /app && chmod 0755 /app" % (R, R)),
    ("x/Dockerfile", "COPY --chown=%s:%s app.py /app/" % (R, R)),
    ("x/setup.sh", "chown -R %s:%s /srv/data" % (R, R)),
    ("x/task.yml", "    owner: %s" % R),
    ("x/vars.yml", 'student_app_password: "{{ lookup(\'ansible.builtin.password\', path) }}"'),
    ("x/vars.yml", "registry_password: \"{{ vault_registry_password }}\""),
    ("x/vars.yml", "student_app_api_password: \"\""),
    ("x/vars.yml", "student_app_api_password: !vault |"),
    ("x/vars.yml", "student_app_secrets_dir: /srv/secrets"),
    ("x/vars.yml", "api_password_file: /run/secrets/api_password"),
    ("x/vars.yml", "    no_log: true"),
    ("x/vars.yml", "       'REGISTRY_HTTP_SECRET': registry_http_secret,"),
    ("x/molecule.yml", "    AWS_SECRET_ACCESS_KEY: testing"),
    ("x/app.env", "API_PASSWORD_FILE=/run/secrets/api_password"),
    ("x/app.env", "DB_PASSWORD=${DB_PASSWORD}"),
    ("x/settings.py", "connect(user=user, password=password)"),
    ("x/settings.py", 'PASSWORD = os.environ["API_PASSWORD"]'),
    ("x/README.md", "The password: it is generated on first run."),
    ("x/README.md", "-----BEGIN CERTIFICATE-----"),
    ("x/README.md", "PUBLIC KEY blocks are fine: -----BEGIN PUBLIC KEY-----"),
    ("x/README.md", "AKIA alone, or AKIA1234 short, is not a key id"),
    ("x/README.md", "ports 127.0.0.1:5000:5000 and times 10:20:30"),
    ("x/README.md", "the image creates it `postgres:postgres 0700`, so a new volume"),
    ("x/tasks.yml", "that: not (user == 'root' and student_app_password == 'root')"),
    ("roles/x/defaults/main.yml", '    api_password: {value: "{{ student_app_password }}", uid: 10001}'),
    ("roles/x/vars/main.yml", "  {{ {'registry_password': {'value': registry_password, 'uid': registry_ui_uid}} }}"),
    ("roles/x/defaults/main.yml", "      secret_env: {REGISTRY_HTTP_SECRET: http_secret}"),
    ("roles/x/defaults/main.yml", "      password_secret: api_password"),
])
def test_scanner_ignores_look_alikes(path, line):
    assert scan_text(path, line) == []


def test_scanner_masks_the_secret_and_gives_the_line():
    [finding] = scan_text("notes.md", "first line\nuse %s:%s here\n" % (A, A))
    assert (finding.path, finding.line, finding.rule) == ("notes.md", 2, "weak-credential-pair")
    assert "%s:%s" % (A, A) not in finding.excerpt and finding.excerpt.startswith("use ")


def test_scanner_reports_new_occurrence_outside_the_allow_list(tmp_path):
    allowed_path = "roles/student_app/tasks/main.yml"
    files = {
        allowed_path: "fail_msg: %s:%s is refused\n" % (R, R),
        "roles/new_role/defaults/main.yml": "new_role_login: %s:%s\n" % (R, R),
        "apps/new_app/README.md": "curl -u %s:%s ...\n" % (A, A),
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    findings = scan_files(tmp_path, sorted(files))
    assert {f.path for f in findings} == set(files)
    kept, used = apply_allow_list(findings)
    assert sorted(f.path for f in kept) == ["apps/new_app/README.md", "roles/new_role/defaults/main.yml"]
    assert [a.path for a in used] == [allowed_path]


def test_scanner_allow_list_is_per_rule(tmp_path):
    # An allowed root:root mention does not let a private key into the same file.
    path = "apps/student_api/README.md"
    text = "never `%s:%s`\n%s\n" % (R, R, PEM % "RSA ")
    kept, _ = apply_allow_list(scan_text(path, text))
    assert [(f.line, f.rule) for f in kept] == [(2, "private-key")]


def test_scanner_skips_binary_and_missing_files(tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"\0\x01" + ("%s:%s" % (R, R)).encode())
    assert scan_files(tmp_path, ["blob.bin", "deleted-in-work-tree.txt"]) == []
