# -*- coding: utf-8 -*-
"""Filter registry_htpasswd: an htpasswd file with one bcrypt entry, rewritten only when needed."""

from __future__ import annotations

DOCUMENTATION = r"""
name: registry_htpasswd
short_description: htpasswd content with a bcrypt entry for one user, idempotent
description:
  - Takes the current content of an htpasswd file (empty when there is none) and returns the content
    it should have so that O(username) logs in with O(password) and nobody else does.
  - When the current entry of O(username) is a bcrypt hash that verifies O(password), it is kept byte for
    byte, so a second run changes nothing; otherwise a new bcrypt hash (new salt) replaces it.
  - Runs on the control host and needs the Python C(bcrypt) package there (no passlib).
options:
  _input:
    description: Current htpasswd content, or an empty string.
    type: str
    required: true
  username:
    description: The user.
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
  rounds:
    description: bcrypt cost of a new hash (4 to 31).
    type: int
    default: 10
"""

from ansible.errors import AnsibleFilterError

try:
    import bcrypt
except ImportError as exc:  # pragma: no cover - reported when the filter is used
    bcrypt = None
    BCRYPT_ERROR = exc
else:
    BCRYPT_ERROR = None


def _verifies(password: str, hashed: str) -> bool:
    if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        return False
    # Apache's htpasswd writes $2y$; Python's bcrypt reads it as $2b$ (the same algorithm).
    candidate = "$2b$" + hashed[4:] if hashed.startswith("$2y$") else hashed
    try:
        return bcrypt.checkpw(password.encode("utf-8"), candidate.encode("ascii"))
    except ValueError:
        return False


def registry_htpasswd(current, username, password, rounds=10):
    if bcrypt is None:
        raise AnsibleFilterError(f"registry_htpasswd needs the Python bcrypt package on the control host: {BCRYPT_ERROR}")
    if not username or ":" in username or "\n" in username:
        raise AnsibleFilterError(f"registry_htpasswd: invalid user name {username!r}")
    if not password:
        raise AnsibleFilterError("registry_htpasswd: empty password")
    rounds = int(rounds)
    if not 4 <= rounds <= 31:
        raise AnsibleFilterError(f"registry_htpasswd: rounds must be 4..31, got {rounds}")
    for line in str(current or "").splitlines():
        name, sep, hashed = line.partition(":")
        if sep and name == username and _verifies(str(password), hashed.strip()):
            return f"{username}:{hashed.strip()}\n"
    hashed = bcrypt.hashpw(str(password).encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")
    return f"{username}:{hashed}\n"


class FilterModule:
    def filters(self):
        return {"registry_htpasswd": registry_htpasswd}
