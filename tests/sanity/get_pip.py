"""Offline stand-in for pypa's get-pip.py, used by ansible-test to put pip into the virtual
environments it creates for sanity tests.

ansible-test downloads get-pip.py from ci-files.testing.ansible.com, which these machines
cannot reach (only package registries are reachable). This script does the same job with the
interpreter's own ``ensurepip`` (no network), then runs ``pip install`` with the arguments
ansible-test passed (its pinned pip and requirements, fetched from PyPI as usual).
"""
import importlib
import runpy
import subprocess
import sys

# In a child process: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, which
# would hide the machine's pip configuration (its CA bundle) from the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
importlib.invalidate_caches()
# get-pip.py's own options, which `pip install` does not know.
OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}
sys.argv = ["pip", "install"] + [arg for arg in sys.argv[1:] if arg not in OWN_OPTIONS]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
