"""Docs must not drift from code: checks every library/*.py module.

For each module: DOCUMENTATION, EXAMPLES and RETURN are YAML; the documented
options are exactly the keys of the module-level ARGUMENT_SPEC, with the same
type, default, choices, required, elements, aliases and suboptions; secret-looking
options set no_log; the examples only use documented options; and
``ansible-doc -M library -t module NAME --json`` renders without warnings.

DOCUMENTATION is read the way ansible-doc reads it (``get_docstring``), with the
doc fragments of ``extends_documentation_fragment`` merged in from the
``doc_fragment_plugins`` directories that ansible.cfg names, so an option that a
fragment documents is checked against ARGUMENT_SPEC like any other.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible.module_utils import labs_docker, labs_http
from ansible.module_utils.basic import PASSWORD_MATCH
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "library"
MODULES = sorted(p for p in LIBRARY.glob("*.py") if not p.name.startswith("_"))
ANSIBLE_DOC = Path(sys.executable).parent / "ansible-doc"
ANSIBLE_CFG = ROOT / "ansible.cfg"


def configured_fragment_dirs():
    """The doc_fragment_plugins directories of ansible.cfg, relative to it as Ansible resolves them."""
    config = configparser.ConfigParser()
    config.read(ANSIBLE_CFG)
    value = config.get("defaults", "doc_fragment_plugins", fallback="")
    return [(ANSIBLE_CFG.parent / d).resolve() for d in value.split(os.pathsep) if d.strip()]


DOC_FRAGMENTS = configured_fragment_dirs()
for _directory in DOC_FRAGMENTS:
    fragment_loader.add_directory(str(_directory))
FRAGMENTS = sorted(p for d in DOC_FRAGMENTS for p in d.glob("*.py") if not p.name.startswith("_"))

# Names Ansible itself flags (PASSWORD_MATCH) plus other obvious secrets.
SECRET_MATCH = re.compile(r"secret|token|passphrase|private_key|api_key|credential", re.I)
SUPPORT_LEVELS = {"full", "partial", "none", "N/A"}

each_module = pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])


def load(path):
    spec = importlib.util.spec_from_file_location("labs_docs_" + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def docs(path):
    """(module, {DOCUMENTATION, EXAMPLES, RETURN}); DOCUMENTATION with its fragments merged."""
    module = load(path)
    parsed = {}
    for name in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        text = getattr(module, name, None)
        assert isinstance(text, str) and text.strip(), "%s is missing %s" % (path.name, name)
        parsed[name] = yaml.safe_load(text)
    # Ansible's own reader: extends_documentation_fragment merged as ansible-doc does.
    parsed["DOCUMENTATION"] = get_docstring(str(Path(path).resolve()), fragment_loader, is_module=True)[0]
    return module, parsed


def option_differences(documented, spec, prefix=""):
    """Every disagreement between documented options and an argument_spec."""
    documented = documented or {}
    spec = spec or {}
    problems = []
    for name in sorted(set(documented) ^ set(spec)):
        where = "ARGUMENT_SPEC" if name in spec else "DOCUMENTATION"
        problems.append("%s%s: only in %s" % (prefix, name, where))
    for name in sorted(set(documented) & set(spec)):
        doc, arg = documented[name] or {}, spec[name]
        pairs = {
            "type": (doc.get("type", "str"), arg.get("type", "str")),
            "default": (doc.get("default"), arg.get("default")),
            "choices": (doc.get("choices"), list(arg["choices"]) if "choices" in arg else None),
            "required": (bool(doc.get("required", False)), bool(arg.get("required", False))),
            "elements": (doc.get("elements"), arg.get("elements")),
            "aliases": (sorted(doc.get("aliases", [])), sorted(arg.get("aliases", []))),
        }
        for key, (doc_value, arg_value) in pairs.items():
            if doc_value != arg_value:
                problems.append("%s%s: %s documented %r, ARGUMENT_SPEC has %r"
                                % (prefix, name, key, doc_value, arg_value))
        if not doc.get("description"):
            problems.append("%s%s: no description" % (prefix, name))
        if (PASSWORD_MATCH.search(name) or SECRET_MATCH.search(name)) and "no_log" not in arg:
            problems.append("%s%s: looks secret but ARGUMENT_SPEC does not set no_log" % (prefix, name))
        if arg.get("no_log") and arg.get("default") is not None:
            problems.append("%s%s: no_log option with a default" % (prefix, name))
        if doc.get("suboptions") or arg.get("options"):
            problems += option_differences(doc.get("suboptions"), arg.get("options"),
                                           prefix + name + ".")
    return problems


@each_module
def test_documentation_yaml_is_complete(path):
    module, parsed = docs(path)
    doc = parsed["DOCUMENTATION"]
    assert doc["module"] == path.stem
    assert doc.get("short_description") and doc.get("description")
    attributes = doc.get("attributes") or {}
    for name in ("check_mode", "diff_mode"):
        assert attributes.get(name, {}).get("support") in SUPPORT_LEVELS, \
            "attributes.%s.support must be one of %s" % (name, sorted(SUPPORT_LEVELS))
        assert attributes[name].get("description")
    assert isinstance(parsed["EXAMPLES"], list) and parsed["EXAMPLES"]
    for key, value in (parsed["RETURN"] or {}).items():
        for field in ("description", "returned", "type"):
            assert value.get(field) is not None, "RETURN %s lacks %s" % (key, field)


@each_module
def test_options_match_argument_spec(path):
    module, parsed = docs(path)
    spec = getattr(module, "ARGUMENT_SPEC", None)
    assert isinstance(spec, dict), "%s must define a module-level ARGUMENT_SPEC" % path.name
    assert re.search(r"argument_spec\s*=\s*ARGUMENT_SPEC\b", path.read_text()), \
        "%s must build AnsibleModule(argument_spec=ARGUMENT_SPEC, ...)" % path.name
    assert option_differences(parsed["DOCUMENTATION"].get("options"), spec) == []


@each_module
def test_examples_use_documented_options(path):
    _, parsed = docs(path)
    options = parsed["DOCUMENTATION"].get("options") or {}
    known = set(options)
    for option in options.values():
        known.update((option or {}).get("aliases", []))
    used = 0
    for task in parsed["EXAMPLES"]:
        for key, args in task.items():
            if key == path.stem or key.endswith("." + path.stem):
                used += 1
                assert isinstance(args, dict), "use the YAML argument form in EXAMPLES"
                assert set(args) <= known, "undocumented options in EXAMPLES: %s" % (
                    sorted(set(args) - known))
    assert used, "EXAMPLES never call %s" % path.stem


@each_module
def test_ansible_doc_renders(path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    run = subprocess.run(
        [str(ANSIBLE_DOC), "-M", str(LIBRARY), "-t", "module", path.stem, "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "WARNING" not in run.stderr, run.stderr
    rendered = json.loads(run.stdout)[path.stem]
    module = load(path)
    assert set(rendered["doc"]["options"]) == set(module.ARGUMENT_SPEC)
    assert rendered["examples"] and rendered["return"]


def test_option_differences_catches_drift():
    documented = {
        "url": {"description": "x", "type": "str", "required": True},
        "retries": {"description": "x", "type": "int", "default": 3},
        "mode": {"description": "x", "choices": ["a", "b"]},
        "api_token": {"description": "x"},
        "docs_only": {"description": "x"},
        "conf": {"description": "x", "type": "dict", "suboptions": {
            "port": {"description": "x", "type": "int"}}},
    }
    spec = {
        "url": {"type": "str"},
        "retries": {"type": "int", "default": 5},
        "mode": {"choices": ["a", "c"]},
        "api_token": {"type": "str"},
        "code_only": {"type": "bool"},
        "conf": {"type": "dict", "options": {"port": {"type": "str"}}},
    }
    assert option_differences(documented, spec) == [
        "code_only: only in ARGUMENT_SPEC",
        "docs_only: only in DOCUMENTATION",
        "api_token: looks secret but ARGUMENT_SPEC does not set no_log",
        "conf.port: type documented 'int', ARGUMENT_SPEC has 'str'",
        "mode: choices documented ['a', 'b'], ARGUMENT_SPEC has ['a', 'c']",
        "retries: default documented 3, ARGUMENT_SPEC has 5",
        "url: required documented True, ARGUMENT_SPEC has False",
    ]
    same = {"password": {"type": "str", "no_log": True}, "n": {"type": "int", "default": 1}}
    assert option_differences({"password": {"description": "x"},
                               "n": {"description": "x", "type": "int", "default": 1}},
                              same) == []


def test_fragments_are_configured_and_used():
    assert DOC_FRAGMENTS == [ROOT / "plugins" / "doc_fragments"], "ansible.cfg doc_fragment_plugins"
    used = set()
    for path in MODULES:
        extends = yaml.safe_load(load(path).DOCUMENTATION).get("extends_documentation_fragment") or []
        used.update(name if "." in name else name + ".documentation" for name in extends)
    defined = set()
    for path in FRAGMENTS:
        fragment = fragment_loader.get(path.stem)
        defined.update("%s.%s" % (path.stem, var.lower()) for var in vars(type(fragment))
                       if var.isupper() and isinstance(getattr(fragment, var), str))
    assert defined and defined <= used, "unused doc fragments: %s" % sorted(defined - used)


@pytest.mark.parametrize("fragment, spec", [
    ("TLS", labs_http.tls_argument_spec()),
    ("DOCKER", labs_docker.docker_argument_spec()),
])
def test_fragment_options_match_module_utils_spec(fragment, spec):
    documented = yaml.safe_load(getattr(fragment_loader.get("labs"), fragment))["options"]
    assert option_differences(documented, spec) == []


FRAGMENT_USER = '''
DOCUMENTATION = r"""
module: fragment_user
short_description: Uses a fragment
description: [Test double.]
extends_documentation_fragment: [labs.tls]
options:
  url:
    description: URL.
    type: str
"""
EXAMPLES = "- fragment_user: {url: http://x}"
RETURN = "{}"
ARGUMENT_SPEC = dict(url=dict(type="str"), ca_path=dict(type="path"))
'''


def test_fragment_option_missing_from_spec_is_caught(tmp_path):
    path = tmp_path / "fragment_user.py"
    path.write_text(FRAGMENT_USER)
    module, parsed = docs(path)
    assert "validate_certs" not in yaml.safe_load(module.DOCUMENTATION).get("options")
    assert option_differences(parsed["DOCUMENTATION"]["options"], module.ARGUMENT_SPEC) == [
        "validate_certs: only in DOCUMENTATION",
    ]
    module.ARGUMENT_SPEC["validate_certs"] = dict(type="bool", default=False)
    assert option_differences(parsed["DOCUMENTATION"]["options"], module.ARGUMENT_SPEC) == [
        "validate_certs: default documented True, ARGUMENT_SPEC has False",
    ]
