# -*- coding: utf-8 -*-
"""Documentation shared by the project's modules, through extends_documentation_fragment.

- ``labs``: what the attributes mean, and the platform; a module states its own support,
- ``labs.read_only``: the support of a module that only reads,
- ``labs.tls``: ``ca_path``, ``validate_certs`` (spec: ``labs_http.tls_argument_spec()``),
- ``labs.docker``: ``docker_host`` (spec: ``labs_docker.docker_argument_spec()``).
"""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    READ_ONLY = r"""
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; it behaves the same in check mode.
  diff_mode:
    support: N/A
    details:
      - The module does not change anything.
"""

    TLS = r"""
options:
  ca_path:
    description:
      - PEM file (or directory of hashed certificates) of the CA certificates that verify
        https servers, instead of the system trust store.
    type: path
  validate_certs:
    description:
      - Verify the TLS certificates of https URLs. Set to V(false) only for throwaway test services.
    type: bool
    default: true
"""

    DOCKER = r"""
options:
  docker_host:
    description:
      - URL of the Docker Engine API, V(unix:///path/to/socket) or V(tcp://host:port).
      - The environment variable E(DOCKER_HOST) is used when the option is not set.
    type: str
    default: unix:///var/run/docker.sock
"""
