"""Shared machinery of the benchmark suite: the sandbox session, the load generator, runs of a
peer (a playbook or a shell script) with their timeline and peak memory, pollers of the objects
that carry the rollout state, and the statistics every figure uses.

Nothing here measures by itself; the bench_*.py modules do, with these pieces.
"""
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import psutil
import requests
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable
BIN = os.path.dirname(PYTHON)
PEERS = os.path.join(ROOT, "tests", "benchmarks", "peers")
SPEC_SCRIPTS = os.path.join(PEERS, "spec-scripts")
KCORE = os.path.join(PEERS, "kubernetes_core")
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")
NS = "llm-research-lab"
HOST = "api.research-lab.example.com"
REPO = "harbor.example.com/llm-research-lab/api"
SERVICE = "research-lab-api"
CANARY = "research-lab-api-canary"
LEASE = "research-lab-rollout"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
STAGE = "deploy.llm-research-lab.io/stage"
# An application no peer touches, loaded lightly during every run: its failures are the sandbox's.
CONTROL_NS = "bench-control"
CONTROL_HOST = "control.bench.example.com"
CONTROL_RPS = 10
# Tools the specification's scripts call.
SCRIPT_TOOLS = ("kubectl", "curl", "jq", "bc")

# Peer names as they appear in results and docs.
OURS = "ours"
SPEC = "spec-scripts"
KCORE_PEER = "kubernetes.core"


class BenchError(Exception):
    """A benchmark could not run (missing tool, sandbox not ready, ...); the message says why."""


def log(text):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), text), flush=True)


# ------------------------------------------------------------------ statistics


def spread(values, digits=3):
    """median, min, max and n of the values (None and empty lists give n=0)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0, "runs": []}
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values), "runs": [round(v, digits) for v in values]}


def ratio(a, b, digits=2):
    """Ratio of two medians (a / b), None when either is missing or b is 0."""
    if not a or not b or a.get("median") is None or not b.get("median"):
        return None
    return round(a["median"] / b["median"], digits)


def relative_spread(figure):
    """(max - min) / median, the noise indicator reported for every figure."""
    if not figure or figure.get("median") in (None, 0) or figure["n"] < 2:
        return None
    return round((figure["max"] - figure["min"]) / abs(figure["median"]), 3)


def iso_to_epoch(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def machine_load():
    return {"uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "t": time.time()}


def other_work():
    """Processes of other test runs on the machine (not this suite's process tree): how much of
    the machine was taken by someone else while the suite ran."""
    mine = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline", "cpu_times"]):
        if proc.info["pid"] in mine or not proc.info["cmdline"]:
            continue
        line = " ".join(proc.info["cmdline"])
        for kind in ("ansible-playbook", "pytest", "tests.sandbox serve", "molecule", "ansible-test", "ansible-lint"):
            if kind in line:
                found[kind] = found.get(kind, 0) + 1
    return found


# ------------------------------------------------------------------ the sandbox


class Sandbox:
    """One sandbox cluster for the whole suite, in a fresh state directory."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.endpoints = None
        self._http = None

    # lifecycle
    def up(self, kubelet="process"):
        done = subprocess.run([PYTHON, "-m", "tests.sandbox", "up", "--state-dir", self.state_dir, "--kubelet", kubelet],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise BenchError("sandbox up failed (state dir %s):\n%s%s" % (self.state_dir, done.stdout, done.stderr))
        with open(os.path.join(self.state_dir, "endpoints.json")) as handle:
            self.endpoints = json.load(handle)
        return self

    def down(self):
        done = subprocess.run([PYTHON, "-m", "tests.sandbox", "down", "--state-dir", self.state_dir], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            log("sandbox down failed: %s%s" % (done.stdout, done.stderr))
        return done.returncode == 0

    # clients
    @property
    def kubeconfig(self):
        return self.endpoints["kubeconfig"]

    def env(self, **extra):
        env = dict(os.environ)
        env.update({
            "KUBECONFIG": self.kubeconfig,
            "SANDBOX_STATE_DIR": self.state_dir,
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build"),
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "PATH": BIN + os.pathsep + env.get("PATH", ""),
            "PYTHONPATH": ROOT,
            "ANSIBLE_NOCOLOR": "1",
        })
        env.update(extra)
        return env

    def kubectl(self, *args, check=True, input=None, timeout=120):
        proc = subprocess.run(["kubectl"] + list(args), capture_output=True, text=True, env=self.env(),
                              input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise BenchError("kubectl %s failed (%d): %s%s" % (" ".join(args), proc.returncode, proc.stdout,
                                                              proc.stderr))
        return proc

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, objects, namespace=None):
        text = yaml.safe_dump_all(objects if isinstance(objects, list) else [objects])
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=text)

    def http(self):
        """A requests session to the API server (admin token, the sandbox CA) for cheap polling."""
        if self._http is None:
            session = requests.Session()
            session.trust_env = False
            session.verify = self.endpoints["ca_cert"]
            session.headers["Authorization"] = "Bearer " + self.endpoints["token"]
            self._http = session
        return self._http

    def get(self, path):
        """GET an API path; None when the object does not exist."""
        response = self.http().get(self.endpoints["api_url"] + path, timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def deployment(self, name, namespace=NS):
        return self.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (namespace, name))

    def service(self, name=SERVICE, namespace=NS):
        return self.get("/api/v1/namespaces/%s/services/%s" % (namespace, name))

    def ingress(self, name=CANARY, namespace=NS):
        return self.get("/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s" % (namespace, name))

    def lease(self, name=LEASE, namespace=NS):
        return self.get("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s" % (namespace, name))

    def wait_for(self, predicate, timeout=180, interval=0.5, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise BenchError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))

    # the application's state
    def active_colour(self, namespace=NS):
        return self.service(namespace=namespace)["spec"]["selector"].get("environment")

    def image(self, name, namespace=NS):
        return self.deployment(name, namespace)["spec"]["template"]["spec"]["containers"][0]["image"]

    def rolled_out(self, name, replicas, namespace=NS):
        """True when the Deployment has exactly ``replicas`` pods, all updated and ready, and no old ones."""
        dep = self.deployment(name, namespace)
        status = dep.get("status", {})
        return (dep["spec"].get("replicas") == replicas
                and status.get("observedGeneration", 0) >= dep["metadata"]["generation"]
                and status.get("replicas", 0) == replicas and status.get("updatedReplicas", 0) == replicas
                and status.get("readyReplicas", 0) == replicas and status.get("availableReplicas", 0) == replicas)

    def copy_dependencies(self, namespace, source=NS):
        """Create ``namespace`` with what the application's pods need that only the sandbox's own
        namespace has: the Secret postgres-credentials and the selector-less Services postgres and
        redis-master with their Endpoints (pointing at the sandbox's real servers)."""
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        secret = self.kubectl_json("get", "secret", "postgres-credentials", "-n", source)
        objects = [{"apiVersion": "v1", "kind": "Secret", "type": secret.get("type", "Opaque"),
                    "metadata": {"name": "postgres-credentials", "namespace": namespace}, "data": secret["data"]}]
        for name in ("postgres", "redis-master"):
            svc = self.kubectl_json("get", "service", name, "-n", source)
            endpoints = self.kubectl_json("get", "endpoints", name, "-n", source)
            objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                            "spec": {"ports": svc["spec"]["ports"]}})
            objects.append({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace},
                            "subsets": endpoints["subsets"]})
        self.apply(objects)


# ------------------------------------------------------------------ load


class Load:
    """The sandbox load generator in the background, through the ingress, one JSONL line per request."""

    def __init__(self, sandbox, out, rps, duration=3600, headers=(), host=HOST):
        self.out = out
        argv = [PYTHON, "-m", "tests.sandbox", "load", "--url", sandbox.endpoints["ingress_url"] + "/api/v1/status",
                "--host", host, "--rps", str(rps), "--duration", str(duration), "--out", out]
        for header in headers:
            argv += ["--header", header]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=sandbox.env())
        self.rows = []
        self.summary = None
        self._wait_for_first_line()

    def _wait_for_first_line(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("load generator exited: %s" % self.proc.stderr.read())
            if os.path.exists(self.out) and os.path.getsize(self.out) > 0:
                return
            time.sleep(0.1)
        raise BenchError("load generator wrote nothing in %ss" % timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        try:
            self.summary = json.loads(out[out.index("{"):])
        except ValueError:
            raise BenchError("load generator gave no summary: %s %s" % (out[-500:], err[-500:]))
        with open(self.out) as handle:
            self.rows = [json.loads(line) for line in handle if line.endswith("\n")]
        self.rows.sort(key=lambda r: r["t"])
        return self.rows

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def failed(row):
    return row["status"] == 0 or row["status"] >= 500


# ------------------------------------------------------------------ pollers


class Poller(threading.Thread):
    """Polls the objects that carry the rollout state (Service selector, canary weight, lease
    stage) every ``interval`` seconds and records each change with the time it was seen."""

    def __init__(self, sandbox, interval=0.2, namespace=NS, images=(), pods=False):
        super().__init__(daemon=True)
        self.sandbox = sandbox
        self.interval = interval
        self.namespace = namespace
        self.images = images  # Deployments whose image is followed
        self.pods = pods      # follow the application's pods too (name, IP, version, terminating, ready)
        self.events = []  # (t, what, value)
        self._last = {}
        self._halt = threading.Event()

    def _observe(self):
        svc = self.sandbox.service(namespace=self.namespace)
        ing = self.sandbox.ingress(namespace=self.namespace)
        lease = self.sandbox.lease(namespace=self.namespace)
        seen = {
            "colour": (svc or {}).get("spec", {}).get("selector", {}).get("environment"),
            "weight": ((ing or {}).get("metadata", {}).get("annotations") or {}).get(WEIGHT),
            "stage": ((lease or {}).get("metadata", {}).get("annotations") or {}).get(STAGE),
            "holder": (lease or {}).get("spec", {}).get("holderIdentity"),
        }
        for name in self.images:
            dep = self.sandbox.deployment(name, self.namespace) or {}
            containers = dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
            seen["image:" + name] = containers[0].get("image")
        if self.pods:
            listing = self.sandbox.get("/api/v1/namespaces/%s/pods?labelSelector=app%%3Dresearch-lab" % self.namespace)
            seen["pods"] = tuple(sorted(
                (p["metadata"]["name"], p.get("status", {}).get("podIP"),
                 p["spec"]["containers"][0]["image"].rsplit(":", 1)[-1],
                 bool(p["metadata"].get("deletionTimestamp")),
                 any(c.get("type") == "Ready" and c.get("status") == "True"
                     for c in p.get("status", {}).get("conditions", [])))
                for p in (listing or {}).get("items", [])))
        return seen

    def run(self):
        while not self._halt.is_set():
            t = time.time()
            try:
                seen = self._observe()
            except Exception as exc:  # a poll that fails is recorded, the run goes on
                seen = {"poll_error": type(exc).__name__}
            for key, value in seen.items():
                if self._last.get(key, object()) != value:
                    self.events.append((t, key, value))
                    self._last[key] = value
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=15)
        return self.events


# ------------------------------------------------------------------ memory


class TreeSampler(threading.Thread):
    """Peak RSS of a process and all its descendants (summed at each sample)."""

    def __init__(self, pid, interval=0.1):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.peak_processes = 0
        self._halt = threading.Event()

    def _sample(self):
        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        if total > self.peak:
            self.peak, self.peak_processes = total, len(procs)

    def run(self):
        while not self._halt.is_set():
            self._sample()
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)
        return self.peak


# ------------------------------------------------------------------ running a peer


class ToolRun:
    """What one run of a peer did: wall time, exit code, output lines with the time each was
    read, peak memory, and for playbooks the tasks with their start and end times."""

    def __init__(self, argv, start, end, rc, lines, peak_rss, peak_processes, stderr):
        self.argv = argv
        self.start = start
        self.end = end
        self.rc = rc
        self.lines = lines
        self.peak_rss = peak_rss
        self.peak_processes = peak_processes
        self.stderr = stderr
        self.playbook = None

    @property
    def wall(self):
        return self.end - self.start

    @property
    def ok(self):
        return self.rc == 0

    def text(self):
        return "\n".join(line for _, line in self.lines)

    def line_time(self, prefix):
        """Time the first output line starting with ``prefix`` was read (shell scripts)."""
        for t, line in self.lines:
            if line.startswith(prefix):
                return t
        return None

    def tasks(self):
        """[(name, start, end, result)] from the ansible.posix.json callback output."""
        if self.playbook is None:
            text = self.text()
            try:
                self.playbook = json.loads(text[text.index("{"):])
            except ValueError:
                self.playbook = {}
        found = []
        for play in self.playbook.get("plays", []):
            for task in play.get("tasks", []):
                duration = task["task"].get("duration", {})
                start = iso_to_epoch(duration["start"]) if duration.get("start") else None
                end = iso_to_epoch(duration["end"]) if duration.get("end") else start
                for host, result in task.get("hosts", {}).items():
                    found.append((task["task"]["name"], start, end, dict(result, _host=host)))
        return found

    def task_time(self, contains, which="start"):
        """Start (or end) of the first task whose name contains ``contains``."""
        for name, start, end, result in self.tasks():
            if contains in name and not result.get("skipped"):
                return start if which == "start" else end
        return None

    def failure_message(self):
        if self.playbook is not None or self.argv[0].endswith("ansible-playbook"):
            messages = [str(r.get("msg", "")) for _, _, _, r in self.tasks() if r.get("failed")]
            return (messages[-1] if messages else self.stderr[-500:])[:800]
        tail = "\n".join(line for _, line in self.lines[-8:])
        return (tail + ("\nstderr: " + self.stderr[-400:] if self.stderr.strip() else ""))[-1200:]


def run_tool(argv, env, timeout=900, cwd=ROOT, sample_interval=0.1):
    """Run a peer, reading its output line by line (timestamped) and sampling its memory."""
    start = time.time()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            bufsize=1, start_new_session=True)
    sampler = TreeSampler(proc.pid, sample_interval)
    sampler.start()
    lines = []
    err_chunks = []

    def read_stderr():
        err_chunks.append(proc.stderr.read())

    err_thread = threading.Thread(target=read_stderr, daemon=True)
    err_thread.start()
    deadline = start + timeout
    timer = threading.Timer(timeout, lambda: _kill_group(proc))
    timer.start()
    try:
        for line in proc.stdout:
            lines.append((time.time(), line.rstrip("\n")))
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            _kill_group(proc)
    end = time.time()
    sampler.stop()
    err_thread.join(timeout=10)
    rc = proc.returncode if time.time() < deadline else -9
    return ToolRun(argv, start, end, rc, lines, sampler.peak, sampler.peak_processes, "".join(err_chunks))


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def playbook_argv(playbook, extra_vars=None, inventory=INVENTORY, args=()):
    argv = [os.path.join(BIN, "ansible-playbook")]
    for source in ([inventory] if isinstance(inventory, str) else inventory):
        argv += ["-i", source]
    argv.append(playbook)
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    return argv + list(args)


def run_playbook(sandbox, playbook, extra_vars=None, inventory=INVENTORY, args=(), env=None, timeout=900,
                 log_dir=None):
    """Run a playbook with the ansible.posix.json callback (task start/end times); its output
    is kept in ``log_dir`` (default: $BENCH_LOG_DIR, else not kept)."""
    log_dir = log_dir or os.environ.get("BENCH_LOG_DIR")
    environment = sandbox.env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_JSON_INDENT="0",
                              **(env or {}))
    run = run_tool(playbook_argv(playbook, extra_vars, inventory, args), environment, timeout=timeout)
    run.tasks()
    if log_dir:
        name = "%s-%s.json" % (os.path.basename(playbook).rsplit(".", 1)[0], time.strftime("%H%M%S"))
        with open(os.path.join(log_dir, name), "w") as handle:
            handle.write(run.text())
    return run


def check_script_tools():
    """The specification's scripts need these on PATH; name the missing ones."""
    missing = [tool for tool in SCRIPT_TOOLS if shutil.which(tool) is None]
    if missing:
        raise BenchError("the specification's scripts need %s, missing on this machine: %s (install the Debian "
                         "package(s) %s)" % (", ".join(SCRIPT_TOOLS), ", ".join(missing), " ".join(missing)))


def script_env(sandbox, **extra):
    """Environment of the specification's scripts: the sandbox's kubeconfig, Prometheus, webhook sink."""
    env = sandbox.env(PROMETHEUS_URL=sandbox.endpoints["prometheus_url"],
                      PAGERDUTY_URL=sandbox.endpoints["webhook_sink_url"] + "/api/v1/incidents",
                      SMOKE_USERNAME="smoke", SMOKE_PASSWORD="sandbox-smoke-password")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_script(sandbox, name, args, timeout=900, **extra_env):
    check_script_tools()
    return run_tool(["bash", os.path.join(SPEC_SCRIPTS, name)] + list(args), script_env(sandbox, **extra_env),
                    timeout=timeout)


# ------------------------------------------------------------------ what the users saw


def cutover(rows, new_version):
    """From the load generator's rows: when the new version first answered, and from when on
    every request was answered by it (the first request after the last one that was not)."""
    first_new = next((r["t"] for r in rows if r["version"] == new_version), None)
    if first_new is None:
        return None, None
    last_other = max((r["t"] for r in rows if r["version"] != new_version and r["t"] >= first_new), default=None)
    if last_other is None:
        return first_new, first_new
    after = [r["t"] for r in rows if r["t"] > last_other]
    return first_new, (min(after) if after else None)


def canary_exposure(rows, canary_version):
    """First failed answer of the canary and the first request after its last answer."""
    first_fail = next((r["t"] for r in rows if r["version"] == canary_version and failed(r)), None)
    last_canary = max((r["t"] for r in rows if r["version"] == canary_version), default=None)
    if first_fail is None or last_canary is None:
        return first_fail, None
    after = [r["t"] for r in rows if r["t"] > last_canary]
    return first_fail, (min(after) if after else None)


def traffic_summary(rows):
    by_version = {}
    for row in rows:
        by_version[row["version"] or "none"] = by_version.get(row["version"] or "none", 0) + 1
    bad = [r for r in rows if failed(r)]
    errors = {}
    for row in bad:
        key = row["error"] or "HTTP %d" % row["status"]
        errors[key] = errors.get(key, 0) + 1
    return {"requests": len(rows), "failed": len(bad), "by_version": by_version, "errors": errors,
            "failed_at": [round(r["t"], 3) for r in bad[:50]]}


# ------------------------------------------------------------------ one run under load


class Settings:
    """What a suite run uses: number of runs, load, soak lengths (full or --quick)."""

    def __init__(self, quick=False):
        self.quick = quick
        self.runs = 1 if quick else 5
        # Extra attempts allowed for a peer whose runs fail (the spec scripts do, see docs).
        self.max_attempts = 2 if quick else 9
        self.rps = 200
        # Every configured wait (our soaks and stabilisation window, the scripts' SOAK_TIME and
        # 30 s sleep, the kubernetes.core playbook's pauses): one length, 10 s - the
        # specification's 300 s soak scaled 1:30 (the sandbox runs probes 10x faster).
        self.soak = 4 if quick else 10
        self.analysis_interval = 2
        self.analysis_window = "10s"
        self.failure_limit = 1
        self.lead_in = 2.0   # load before the peer starts
        self.lead_out = 2.0  # load after it ended
        self.idle_seconds = 10 if quick else 30  # load with no rollout: the failure floor
        self.task_runs = 3 if quick else 20
        self.scale_sizes = (1, 3) if quick else (1, 5, 20)
        self.scale_runs = 1 if quick else 5
        # 20 applications take ~3 min per run on 2 cores (20 forks): 3 runs, not 5.
        self.scale_runs_largest = 1 if quick else 3

    def as_dict(self):
        return dict(self.__dict__)


def ours_vars(settings, report_dir, **extra):
    """Extra vars of every run of our playbooks (the sandbox inventory supplies the rest)."""
    values = {"deploy_soak_seconds": settings.soak, "deploy_analysis_interval": settings.analysis_interval,
              "deploy_analysis_window": settings.analysis_window, "canary_failure_limit": settings.failure_limit,
              "deploy_report_dir": report_dir}
    values.update(extra)
    return values


def under_load(sandbox, settings, load_path, start_peer, namespace=NS, images=(), pods=False):
    """Start the poller, the load and the control load, run the peer, keep the load a little
    longer, stop them. Returns the run, the load's rows, the poller's events and the control
    load's rows (requests to an application no peer touches: its failures are the sandbox's)."""
    poller = Poller(sandbox, namespace=namespace, images=images, pods=pods)
    poller.start()
    load = Load(sandbox, load_path, settings.rps)
    control = Load(sandbox, load_path[:-len(".jsonl")] + "-control.jsonl", CONTROL_RPS, host=CONTROL_HOST)
    try:
        time.sleep(settings.lead_in)
        run = start_peer()
        time.sleep(settings.lead_out)
    except BaseException:
        load.kill()
        control.kill()
        poller.stop()
        raise
    rows = load.stop()
    control_rows = control.stop()
    events = poller.stop()
    return run, rows, events, control_rows


def rounds(settings, peers, bench, version_of, measure, success, **fields):
    """Rounds of one run per peer (the order rotates so that changes of the machine's load hit
    them alike), then extra attempts, up to settings.max_attempts, for a peer with fewer than
    settings.runs successful runs. ``measure(peer, version)`` returns a run's result;
    ``version_of(n)`` names the n-th run's version; a run that raises BenchError is kept as
    not measured (with ``fields``) and the others go on."""
    results = []

    def once(peer):
        version = version_of(len(results) + 1)
        try:
            results.append(measure(peer, version))
        except BenchError as exc:
            log("%s %s %s: not measured: %s" % (bench, peer, version, exc))
            results.append(dict(fields, peer=peer, version=version, ok=False, error=str(exc),
                                failure="not measured: %s" % exc))

    for round_index in range(settings.runs):
        shift = round_index % len(peers)
        for peer in peers[shift:] + peers[:shift]:
            once(peer)
    for peer in peers:
        attempts = sum(1 for r in results if r["peer"] == peer)
        while sum(1 for r in results if r["peer"] == peer and success(r)) < settings.runs and \
                attempts < settings.max_attempts:
            once(peer)
            attempts += 1
    return results


def idle_window(sandbox, settings, load_path, seconds):
    """The same load with no rollout at all: the failure floor of the sandbox on this machine."""
    load = Load(sandbox, load_path, settings.rps)
    control = Load(sandbox, load_path[:-len(".jsonl")] + "-control.jsonl", CONTROL_RPS, host=CONTROL_HOST)
    try:
        time.sleep(seconds)
    finally:
        rows = load.stop()
        control_rows = control.stop()
    result = {"seconds": seconds, "traffic": traffic_summary(rows),
              "control": traffic_summary(control_rows), "latency_ms": {
                  k: load.summary["latency_ms"][k] for k in ("p50", "p99", "max")}}
    log("idle window %d s: %d/%d failed, p99 %s ms" % (seconds, result["traffic"]["failed"],
                                                       result["traffic"]["requests"], result["latency_ms"]["p99"]))
    return result


def environmental(rows, control_rows, margin=2.0):
    """Split the failed requests of a run: those within ``margin`` s of a failed request to the
    control application (the sandbox itself stalled: every application failed) and the rest."""
    stalls = sorted(r["t"] for r in control_rows if failed(r))
    near = 0
    bad = [r for r in rows if failed(r)]
    for row in bad:
        if any(abs(row["t"] - t) <= margin for t in stalls):
            near += 1
    return {"failed": len(bad), "during_sandbox_stalls": near, "outside_stalls": len(bad) - near,
            "control_requests": len(control_rows), "control_failed": len(stalls)}


def first_action(run, action, after=None, which="start", where=None):
    """Start (or end) time of the first task of a playbook run that used module ``action``."""
    for name, start, end, result in run.tasks():
        if result.get("action") != action or result.get("skipped"):
            continue
        if after is not None and start < after:
            continue
        if where and not where(name, result):
            continue
        return start if which == "start" else end
    return None


def event_time(events, what, value=None, after=None):
    for t, key, seen in events:
        if key == what and (value is None or seen == value) and (after is None or t >= after):
            return t
    return None


# ------------------------------------------------------------------ the application's starting state


def set_weight(sandbox, weight, namespace=NS):
    if sandbox.ingress(namespace=namespace) is not None:
        sandbox.kubectl("annotate", "ingress", CANARY, "-n", namespace, "--overwrite", "%s=%s" % (WEIGHT, weight))


def free_lease(sandbox, namespace=NS):
    """A run that was killed can leave the lease held; the next run must start free."""
    lease = sandbox.lease(namespace=namespace)
    if lease and lease.get("spec", {}).get("holderIdentity"):
        sandbox.kubectl("patch", "lease", LEASE, "-n", namespace, "--type", "merge", "-p",
                        json.dumps({"spec": {"holderIdentity": None}}))


def create_spec_canary_ingress(sandbox):
    """The specification's k8s/ingress-canary.yaml, which its canary scripts expect to exist,
    for the sandbox: no TLS section (the sandbox serves plain HTTP) and weight 0 - the state the
    specification's own scripts leave it in (rollback: 0, success: weight removed)."""
    if sandbox.ingress() is not None:
        return
    sandbox.apply({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": CANARY, "namespace": NS, "annotations": {
            "nginx.ingress.kubernetes.io/canary": "true", WEIGHT: "0",
            "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
            "nginx.ingress.kubernetes.io/canary-by-header-value": "always"}},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": HOST, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": CANARY, "port": {"number": 8080}}}}]}}]}})


def reset_blue_green(sandbox):
    """Before every blue-green run: blue is active, blue and green each have 3 ready pods and
    no old ones, the canary carries no traffic, the lease is free."""
    sandbox.kubectl("patch", "service", SERVICE, "-n", NS, "--type", "merge", "-p",
                    json.dumps({"spec": {"selector": {"environment": "blue"}}}))
    set_weight(sandbox, "0")
    sandbox.kubectl("scale", "deployment", CANARY, "-n", NS, "--replicas=0")
    free_lease(sandbox)
    for colour in ("blue", "green"):
        if sandbox.deployment(SERVICE + "-" + colour)["spec"]["replicas"] != 3:
            sandbox.kubectl("scale", "deployment", SERVICE + "-" + colour, "-n", NS, "--replicas=3")
    ready = lambda: all(sandbox.rolled_out(SERVICE + "-" + c, 3) for c in ("blue", "green"))  # noqa: E731
    try:
        sandbox.wait_for(ready, timeout=120, what="blue and green rolled out with 3 ready pods")
    except BenchError:
        # A run that failed can leave a colour stuck on an image that never gets ready: put
        # both colours on blue's image (blue serves traffic, so it runs) and wait again.
        image = sandbox.image(SERVICE + "-blue")
        sandbox.kubectl("set", "image", "deployment/%s-green" % SERVICE, "api=" + image, "-n", NS)
        sandbox.wait_for(ready, timeout=180, what="blue and green rolled out with 3 ready pods")


def reset_canary(sandbox, canary_replicas):
    """Before every canary run: weight 0, the canary Deployment on the stable image with
    ``canary_replicas`` ready pods (the specification's manifest has 1, our bootstrap 0), the
    stable colour rolled out, the lease free."""
    set_weight(sandbox, "0")
    free_lease(sandbox)
    stable = SERVICE + "-" + sandbox.active_colour()
    stable_image = sandbox.image(stable)
    if sandbox.image(CANARY) != stable_image:
        sandbox.kubectl("set", "image", "deployment/" + CANARY, "api=" + stable_image, "-n", NS)
    sandbox.kubectl("scale", "deployment", CANARY, "-n", NS, "--replicas=%d" % canary_replicas)
    sandbox.wait_for(lambda: sandbox.rolled_out(stable, 3) and sandbox.rolled_out(CANARY, canary_replicas),
                     what="stable and canary rolled out")
    return stable
