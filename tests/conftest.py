"""Make the checkout importable as ``ansible_collections.llm_research_lab.deploy``.

The collection's modules import their helpers by that fully-qualified name, so tests need an
``ansible_collections/llm_research_lab/deploy`` directory on ``sys.path``. ``make`` creates
``.build/ansible_collections/llm_research_lab/deploy`` as a symlink to the checkout; this file
creates it too, so a bare ``pytest`` works.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, ".build")
LINK = os.path.join(BUILD, "ansible_collections", "llm_research_lab", "deploy")

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
