"""Roles document every input they take, and the example inventories every setting.

- Every variable of a role's defaults/main.yml is an option of its `main` entry point, with a type
  and a description; literal defaults equal the spec's `default`; templated ones (which fall back to
  an inventory-wide deploy_* setting) say so in the description instead.
- Every deploy_* variable the roles and playbooks read is documented in the production and kind
  inventories' group_vars (set, or commented out with its explanation).
"""
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "defaults" / "main.yml").exists())
# Inputs read by a role that are not role variables (extra vars of the playbooks' interface).
EXTRA_INPUTS = {"canary": {"version"}, "blue_green": {"version"}, "rollback": {"strategy"}}
# deploy_* names that are outputs (set_stats) or play variables, not settings.
NOT_SETTINGS = {"deploy_active_colour", "deploy_active_version", "deploy_previous_colour",
                "deploy_previous_version", "deploy_stable_deployment", "deploy_strategy",
                "deploy_validation_selector", "deploy_validation_range"}


def _templated(value):
    return "{{" in yaml.safe_dump(value)


def _load(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return defaults, specs


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_a_documented_option(role):
    defaults, specs = _load(role)
    main = specs["main"]["options"]
    problems = ["default %s is not an option of main" % name for name in defaults if name not in main]
    problems += ["option %s is neither a default nor a declared extra input" % name for name in main
                 if name not in defaults and name not in EXTRA_INPUTS.get(role, set())]
    for entry, spec in specs.items():
        problems += ["%s has no %s" % (entry, key) for key in ("short_description", "description", "options")
                     if key not in spec]
        for name, option in spec.get("options", {}).items():
            where = "%s/%s" % (entry, name)
            if "type" not in option or "description" not in option:
                problems.append("%s: type or description missing" % where)
            if option.get("type") == "list" and "elements" not in option:
                problems.append("%s: list without elements" % where)
            if name in defaults:
                text = " ".join(option.get("description") or [])
                if _templated(defaults[name]):
                    if "default" in option:
                        problems.append("%s: templated default, but the spec states a literal one" % where)
                    if "Default:" not in text:
                        problems.append("%s: templated default not described" % where)
                elif option.get("default", object()) != defaults[name]:
                    problems.append("%s: spec default %r != defaults/main.yml %r"
                                    % (where, option.get("default"), defaults[name]))
    assert problems == []


@pytest.mark.parametrize("inventory", ["production", "kind"])
def test_inventories_document_every_setting(inventory):
    read = set()
    for base in ("roles", "playbooks"):
        for path in (ROOT / base).rglob("*"):
            if path.is_file() and path.suffix in (".yml", ".j2") and "meta" not in path.parts:
                read |= set(re.findall(r"\bdeploy_[a-z_]+\b", path.read_text()))
    text = (ROOT / "inventories" / inventory / "group_vars" / "all.yml").read_text()
    missing = sorted(v for v in read - NOT_SETTINGS if not re.search(r"^#? ?%s:" % v, text, re.M))
    assert missing == []
