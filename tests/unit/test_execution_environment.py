# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An execution environment built with this collection must get every library its plugins import:
meta/execution-environment.yml points ansible-builder at requirements.txt, and requirements.txt
names the distribution of every third-party module imported under plugins/."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import glob
import importlib.metadata
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EE_META = os.path.join(ROOT, "meta", "execution-environment.yml")
# Imported only behind try/except by module_utils that ansible-core itself provides.
PROVIDED = {"ansible", "ansible_collections", "urlparse"}


def requirement_names():
    names = set()
    with open(os.path.join(ROOT, "requirements.txt")) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(re.split(r"[<>=!~ ;\[]", line, 1)[0].lower())
    return names


def third_party_imports():
    """Top-level modules imported anywhere under plugins/ that are neither stdlib nor Ansible."""
    found = set()
    for path in glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True):
        with open(path) as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            found.update(t for t in tops if t not in sys.stdlib_module_names and t not in PROVIDED)
    return found


def test_metadata_points_ansible_builder_at_requirements_txt():
    with open(EE_META) as handle:
        meta = yaml.safe_load(handle)
    assert meta["version"] == 1
    python = meta["dependencies"]["python"]
    assert os.path.isfile(os.path.join(ROOT, python)), python


def test_requirements_txt_covers_every_third_party_import():
    imports = third_party_imports()
    assert {"kubernetes", "requests", "jmespath"} <= imports, imports
    distributions = importlib.metadata.packages_distributions()
    required = requirement_names()
    missing = {}
    for name in imports:
        dists = {d.lower() for d in distributions.get(name, [name])}
        if not dists & required:
            missing[name] = sorted(dists)
    assert not missing, "imported under plugins/ but not in requirements.txt: %s" % missing


def test_ansible_builder_introspect_lists_the_requirements():
    """What ansible-builder itself reads from the installed collection (.build, made by `make`)."""
    builder = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    proc = subprocess.run([builder, "introspect", os.path.join(ROOT, ".build")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    listed = yaml.safe_load(proc.stdout.split("\n", 1)[1] if proc.stdout.startswith("#") else proc.stdout)
    lines = [entry.split("#", 1)[0].strip() for entry in listed["python"]]
    for requirement in ("kubernetes>=24.2.0", "requests>=2.28", "urllib3>=1.26", "jmespath>=1.0"):
        assert requirement in lines, (requirement, proc.stdout)
