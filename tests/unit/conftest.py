"""Make the project's custom modules importable in unit tests.

Ansible loads ``library/*.py`` as modules and ``module_utils/*.py`` as
``ansible.module_utils.<name>``; the tests import them the same way.
"""

import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "library"
MODULE_UTILS = ROOT / "module_utils"

if str(MODULE_UTILS) not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(MODULE_UTILS))
if str(LIBRARY) not in sys.path:
    sys.path.insert(0, str(LIBRARY))
