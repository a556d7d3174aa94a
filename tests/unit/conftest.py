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

# The project's module_utils, and the roles' own (roles/<role>/module_utils, for the modules in roles/<role>/library).
for _utils in [MODULE_UTILS, *sorted(ROOT.glob("roles/*/module_utils"))]:
    if str(_utils) not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(_utils))
for _path in (LIBRARY, Path(__file__).resolve().parent):  # the modules, and fakes.py
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
