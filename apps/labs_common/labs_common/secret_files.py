"""Secrets given as ``X`` or, for Docker/Compose secrets, as ``X_FILE``: the path of a file holding the value."""

from __future__ import annotations

from typing import Mapping, Optional, Type


def read_secret(env: Mapping[str, str], name: str, error: Type[Exception] = ValueError) -> Optional[str]:
    """The content of the file named by ``name_FILE`` (wins) or the value of ``name``; None when neither
    gives a non-empty value.

    The file wins so that a secret overrides a leftover plain variable; its trailing newline (editors,
    ``echo``) is dropped, it is never part of a credential. A ``name_FILE`` that cannot be read raises
    ``error`` (the app's configuration error), naming the variable and the path, never the content.
    """
    path = env.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read()
        except OSError as exc:
            raise error(f"{name}_FILE={path} cannot be read: {exc.strerror or exc}") from exc
        return value.rstrip("\r\n") or None
    return env.get(name) or None
