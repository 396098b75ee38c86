"""Shared fixtures for integration tests: one real sandbox cluster per test session.

    def test_something(sandbox):
        sandbox.kubectl("get", "pods", "-n", ns)          # real kubectl, the sandbox's kubeconfig
        core = sandbox.core()                               # official Python client
        result = sandbox.playbook(PLAY, extra_vars={...})   # real ansible-playbook, JSON results
        ns = sandbox.namespace("svc-sel")                   # a fresh namespace for this test

Set SANDBOX_REUSE=/path/to/state-dir to run against a sandbox you started yourself
(`python -m tests.sandbox up --state-dir ...`); it is then left running.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable
BIN = os.path.dirname(PYTHON)


class PlaybookResult:
    """What one ansible-playbook run did, from the ansible.posix.json callback."""

    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data

    @property
    def failed(self):
        return self.rc != 0

    def tasks(self, host="localhost"):
        """[(task name, result dict)] in order, for ``host``."""
        out = []
        for play in (self.data or {}).get("plays", []):
            for task in play.get("tasks", []):
                result = task.get("hosts", {}).get(host)
                if result is not None:
                    out.append((task["task"]["name"], result))
        return out

    def task(self, name, host="localhost"):
        """The result of the last task called ``name`` (roles' tasks are "<role> : <name>")."""
        found = [r for n, r in self.tasks(host) if n == name or n.endswith(" : " + name)]
        if not found:
            raise AssertionError("no task %r in the run; tasks were: %s\nstderr: %s" % (
                name, [n for n, _ in self.tasks(host)], self.stderr[-3000:]))
        return found[-1]

    def stats(self, host="localhost"):
        return (self.data or {}).get("stats", {}).get(host, {})


class Sandbox:
    def __init__(self, state_dir):
        self.state_dir = state_dir
        with open(os.path.join(state_dir, "endpoints.json")) as handle:
            self.endpoints = json.load(handle)
        self.kubeconfig = self.endpoints["kubeconfig"]

    def refresh(self):
        with open(os.path.join(self.state_dir, "endpoints.json")) as handle:
            self.endpoints = json.load(handle)

    # ------------------------------------------------------------------ clients
    def env(self, **extra):
        env = dict(os.environ)
        env.update({
            "KUBECONFIG": self.kubeconfig,
            "SANDBOX_STATE_DIR": self.state_dir,
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build"),
            "PATH": BIN + os.pathsep + env.get("PATH", ""),
            "PYTHONPATH": ROOT,
        })
        env.update(extra)
        return env

    def kubectl(self, *args, check=True, input=None, context=None, timeout=120):
        argv = ["kubectl"] + (["--context", context] if context else []) + list(args)
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env(), input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("kubectl %s failed (%d): %s%s" % (" ".join(args), proc.returncode, proc.stdout,
                                                                   proc.stderr))
        return proc

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def api_client(self, context="sandbox"):
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig, context=context)

    def core(self, context="sandbox"):
        from kubernetes import client

        return client.CoreV1Api(self.api_client(context))

    def apps(self, context="sandbox"):
        from kubernetes import client

        return client.AppsV1Api(self.api_client(context))

    def namespace(self, prefix="t"):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:6])
        self.kubectl("create", "namespace", name)
        return name

    def apply(self, manifest, namespace=None):
        text = manifest if isinstance(manifest, str) else yaml.safe_dump_all(
            manifest if isinstance(manifest, list) else [manifest])
        args = ["create", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=text)

    # ------------------------------------------------------------------ helpers for sandbox tests
    def http(self, token=None):
        """A requests session to the API server with the admin token (or ``token``; "" for none).
        trust_env is off so REQUESTS_CA_BUNDLE cannot replace the sandbox's CA."""
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = self.endpoints["ca_cert"]
        token = self.endpoints["token"] if token is None else token
        if token:
            session.headers["Authorization"] = "Bearer " + token
        return session

    def app_namespace(self, prefix="t"):
        """A fresh namespace where the specification's pods can run: the Secret
        postgres-credentials and the Services postgres and redis-master (pointing at the
        sandbox's real servers, with their Endpoints) are copied from llm-research-lab."""
        name = self.namespace(prefix)
        source = "llm-research-lab"
        secret = self.kubectl_json("get", "secret", "postgres-credentials", "-n", source)
        objects = [{"apiVersion": "v1", "kind": "Secret", "type": secret.get("type", "Opaque"),
                    "metadata": {"name": "postgres-credentials"}, "data": secret["data"]}]
        for service in ("postgres", "redis-master"):
            svc = self.kubectl_json("get", "service", service, "-n", source)
            ep = self.kubectl_json("get", "endpoints", service, "-n", source)
            objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                            "spec": {"ports": svc["spec"]["ports"]}})
            objects.append({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": service},
                            "subsets": ep["subsets"]})
        self.apply(objects, namespace=name)
        return name

    def delete_namespace(self, name):
        """Delete a test namespace without waiting (its pods' processes stop in the background)."""
        self.kubectl("delete", "namespace", name, "--wait=false", check=False)

    def ctl(self, part, action):
        subprocess.run([PYTHON, "-m", "tests.sandbox", "ctl", "--state-dir", self.state_dir, part, action],
                       check=True, capture_output=True, cwd=ROOT, env=self.env(), timeout=120)
        self.refresh()

    def wait_for(self, predicate, timeout=60, interval=0.2, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))

    # ------------------------------------------------------------------ ansible
    def playbook(self, play, extra_vars=None, check=False, diff=False, inventory=None, timeout=900, env=None,
                 args=()):
        """Run ``play`` (a path, or a list of plays / YAML text written to a temp file)."""
        path = play
        if not (isinstance(play, str) and os.path.exists(play)):
            handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False, dir=self.state_dir)
            handle.write(play if isinstance(play, str) else yaml.safe_dump(play, sort_keys=False))
            handle.close()
            path = handle.name
        argv = [os.path.join(BIN, "ansible-playbook"), path]
        if inventory:
            argv += ["-i", inventory]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        argv += list(args)
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                              env=self.env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                                           ANSIBLE_JSON_INDENT="0", **(env or {})))
        try:
            data = json.loads(proc.stdout[proc.stdout.index("{"):]) if "{" in proc.stdout else None
        except ValueError:
            data = None
        return PlaybookResult(proc, data)


MANIFESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifests")


def manifest(name, namespace=None):
    """The documents of tests/integration/manifests/<name>.yaml (the specification's manifests),
    moved to ``namespace`` when given."""
    with open(os.path.join(MANIFESTS, name + ".yaml")) as handle:
        docs = [doc for doc in yaml.safe_load_all(handle) if doc]
    if namespace:
        for doc in docs:
            doc["metadata"]["namespace"] = namespace
    return docs


API_IMAGE = "harbor.example.com/llm-research-lab/api:%s"


def deployment(name, version="v1.2.3", replicas=1, labels=None, image=None, **spec):
    """A small Deployment of the sample application, Ready once its HTTP port accepts
    connections (a tcpSocket probe: it needs no database), for tests about the API."""
    labels = labels or {"app": name}
    body = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"terminationGracePeriodSeconds": 5,
                                           "containers": [{"name": "api", "image": image or API_IMAGE % version,
                                                           "ports": [{"name": "http", "containerPort": 8080}],
                                                           "readinessProbe": {"tcpSocket": {"port": 8080},
                                                                              "periodSeconds": 1}}]}}}}
    body["spec"].update(spec)
    return body


def _up(state_dir):
    proc = subprocess.run([PYTHON, "-m", "tests.sandbox", "up", "--state-dir", state_dir],
                          capture_output=True, text=True, cwd=ROOT, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError("sandbox up failed:\n%s\n%s" % (proc.stdout, proc.stderr))


@pytest.fixture(scope="session")
def sandbox():
    reuse = os.environ.get("SANDBOX_REUSE")
    if reuse:
        yield Sandbox(reuse)
        return
    state_dir = tempfile.mkdtemp(prefix="sandbox-", dir=os.environ.get("SANDBOX_TMP"))
    _up(state_dir)
    try:
        yield Sandbox(state_dir)
    finally:
        subprocess.run([PYTHON, "-m", "tests.sandbox", "down", "--state-dir", state_dir],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
        shutil.rmtree(state_dir, ignore_errors=True)
