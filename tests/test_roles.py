"""Every role documents what it takes, and the documents agree with the code."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())


def _load_role_docs():
    spec = importlib.util.spec_from_file_location("role_docs", ROOT / "scripts" / "role_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(role: Path) -> dict:
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"].get("options", {})


def _defaults(role: Path) -> dict:
    path = role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_the_standard_files(role):
    for rel in ["meta/main.yml", "meta/argument_specs.yml", "README.md", "tasks/main.yml"]:
        assert (role / rel).is_file(), f"{role.name} lacks {rel}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_specified_and_prefixed(role):
    options, defaults = _options(role), _defaults(role)
    assert set(defaults) <= set(options), f"defaults without a spec: {sorted(set(defaults) - set(options))}"
    unprefixed = [name for name in options if not name.startswith(role.name + "_")]
    assert not unprefixed, f"variables without the {role.name}_ prefix: {unprefixed}"
    missing = [n for n, o in options.items() if not o.get("required") and n not in defaults]
    assert not missing, f"optional variables with no default in defaults/main.yml: {missing}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_spec_defaults_match_defaults_file(role):
    options, defaults = _options(role), _defaults(role)
    for name, value in defaults.items():
        if "{{" in repr(value):
            continue  # computed at run time (or holds templated values, like a stack declaration); the spec documents it in words
        assert options[name].get("default") == value, f"{name}: spec says {options[name].get('default')!r}, defaults say {value!r}"


def test_role_readmes_are_current():
    stale = _load_role_docs().stale_readmes(ROOT / "roles", write=False)
    assert not stale, f"run scripts/role_docs.py: stale {[str(p.relative_to(ROOT)) for p in stale]}"
