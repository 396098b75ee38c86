"""A kubelet whose containers are real processes.

Each container of a pod is an OS process (the sample application, or a TCP listener for
images such as kafka) bound to the pod's own loopback address. Images come from the catalog
(an unknown image never starts: ErrImagePull, then ImagePullBackOff); env comes from the pod
spec, Secrets and ConfigMaps (a missing one: CreateContainerConfigError); startup, readiness
and liveness probes run for real with the spec's timings scaled by the sandbox's time factor;
a crash or failed liveness probe restarts the container with Kubernetes' back-off
(CrashLoopBackOff); a process over its memory limit is OOM-killed; deleting a pod sends
SIGTERM, waits the grace period, then SIGKILL.
"""
import asyncio
import json
import logging
import os
import signal
import sys
import time

import aiohttp
import psutil

from ..apiserver.resources import BY_PLURAL
from ..apiserver.store import now_rfc3339
from ..catalog import DEFAULT_CATALOG, Catalog, CatalogError
from .base import Kubelet
from .environment import ConfigError, container_environment, parse_memory

log = logging.getLogger("sandbox.kubelet")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PODS = BY_PLURAL["pods"]
BACKOFF_START = 10.0   # seconds, before scaling, as the kubelet's crash and image back-off
BACKOFF_MAX = 300.0
# Endpoints drop a terminating pod as soon as its deletionTimestamp is set; the kubelet waits
# this long before SIGTERM so proxies have stopped choosing it (a preStop sleep, in effect).
TERMINATION_PROPAGATION = 0.25


class Container:
    """One container of one pod: its process, probes and restart history."""

    def __init__(self, kubelet, pod, spec):
        self.kubelet = kubelet
        self.pod = pod
        self.spec = spec
        self.name = spec["name"]
        self.process = None
        self.started_at = None
        self.started = False     # startup probe passed (or none)
        self.ready = False
        self.restarts = 0
        self.state = Kubelet.waiting_status(spec, "ContainerCreating")
        self.last_state = {}
        self.kill_reason = None   # set by probes / OOM monitor: why we are killing it
        self.stopping = False
        self.task = None
        self.rss = 0
        self.memory_limit = parse_memory(((spec.get("resources") or {}).get("limits") or {}).get("memory"))
        self.log_path = kubelet.log_path(pod, self.name)

    # ------------------------------------------------------------------ status
    def status(self):
        if self.process is not None and self.process.returncode is None and self.started_at:
            return Kubelet.running_status(self.spec, self.started_at, self.ready, self.restarts,
                                          "sandbox://%d" % self.process.pid, self.last_state) | {
                "started": self.started}
        status = dict(self.state)
        status["restartCount"] = self.restarts
        status["lastState"] = self.last_state
        return status

    def _waiting(self, reason, message=None):
        self.state = Kubelet.waiting_status(self.spec, reason, message, self.restarts, self.last_state)
        self.kubelet.publish(self.pod)

    # ------------------------------------------------------------------ lifecycle
    async def run(self):
        backoff = self.kubelet.scaled(BACKOFF_START)
        pull_backoff = self.kubelet.scaled(BACKOFF_START)
        policy = self.pod["spec"].get("restartPolicy", "Always")
        while not self.stopping:
            image = self.spec.get("image", "")
            try:
                behaviour = self.kubelet.catalog().resolve(image)
            except CatalogError as err:
                behaviour = None
                log.error("catalog error for %s: %s", image, err)
            if behaviour is None:
                message = 'failed to pull and unpack image "%s": not found in the sandbox catalog' % image
                self._waiting("ErrImagePull", message)
                self.kubelet.event(self.pod, "Warning", "Failed",
                                   'Failed to pull image "%s": %s' % (image, message))
                await self._sleep(self.kubelet.scaled(2.0))
                if self.stopping:
                    break
                self._waiting("ImagePullBackOff", 'Back-off pulling image "%s"' % image)
                self.kubelet.event(self.pod, "Normal", "BackOff", 'Back-off pulling image "%s"' % image)
                await self._sleep(pull_backoff)
                pull_backoff = min(pull_backoff * 2, self.kubelet.scaled(BACKOFF_MAX))
                continue
            try:
                env = container_environment(self.kubelet, self.pod, self.spec, behaviour)
            except ConfigError as err:
                self._waiting("CreateContainerConfigError", str(err))
                self.kubelet.event(self.pod, "Warning", "Failed", "Error: %s" % err)
                await self._sleep(self.kubelet.scaled(BACKOFF_START))
                continue
            if self.restarts == 0:
                self.kubelet.event(self.pod, "Normal", "Pulled",
                                   'Container image "%s" already present on machine' % image)
            started = time.monotonic()
            exit_code, reason = await self._run_once(behaviour, env)
            if self.stopping:
                break
            finished = now_rfc3339()
            self.last_state = {"terminated": {"exitCode": exit_code, "reason": reason,
                                              "startedAt": self.started_at, "finishedAt": finished}}
            if policy == "Never" or (policy == "OnFailure" and exit_code == 0):
                self.state = {"name": self.name, "state": dict(self.last_state), "lastState": {}, "ready": False,
                              "restartCount": self.restarts, "image": image, "imageID": "", "started": False}
                self.kubelet.publish(self.pod, finished_phase="Succeeded" if exit_code == 0 else "Failed")
                return
            self.restarts += 1
            if time.monotonic() - started > self.kubelet.scaled(600):
                backoff = self.kubelet.scaled(BACKOFF_START)   # ran long enough: forgive
            message = "back-off %s restarting failed container=%s pod=%s" % (
                _seconds(backoff), self.name, self.pod["metadata"]["name"])
            self._waiting("CrashLoopBackOff", message)
            self.kubelet.event(self.pod, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s"
                               % (self.name, self.pod["metadata"]["name"]))
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.kubelet.scaled(BACKOFF_MAX))

    async def _sleep(self, seconds):
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            await asyncio.sleep(min(0.1, max(end - time.monotonic(), 0)))

    async def _run_once(self, behaviour, env):
        self.kill_reason = None
        self.started = False
        self.ready = False
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *behaviour.command(sys.executable), cwd=ROOT, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True)
        self.started_at = now_rfc3339()
        self.kubelet.event(self.pod, "Normal", "Created", "Created container %s" % self.name)
        self.kubelet.event(self.pod, "Normal", "Started", "Started container %s" % self.name)
        if not self.spec.get("startupProbe"):
            self.started = True
        if not self.spec.get("readinessProbe") and self.started:
            self.ready = True
        self.kubelet.publish(self.pod)
        helpers = [asyncio.ensure_future(self._probes()), asyncio.ensure_future(self._watch_memory())]
        try:
            exit_code = await self.process.wait()
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        self.ready = False
        if self.kill_reason == "OOMKilled":
            return 137, "OOMKilled"
        if self.kill_reason:
            return exit_code if exit_code >= 0 else 128 - exit_code, "Error"
        if exit_code < 0:
            return 128 - exit_code, "Error"
        return exit_code, "Completed" if exit_code == 0 else "Error"

    async def kill(self, grace, reason=None):
        """SIGTERM the process group, wait ``grace`` seconds, then SIGKILL."""
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        if reason:
            self.kill_reason = reason
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=max(grace, 0.0))
        except asyncio.TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def stop(self, grace):
        self.stopping = True
        await self.kill(grace)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    # ------------------------------------------------------------------ probes
    async def _probes(self):
        startup = self.spec.get("startupProbe")
        if startup:
            if not await self._probe_until_success("Startup", startup):
                return
            self.started = True
            if not self.spec.get("readinessProbe"):
                self.ready = True
            self.kubelet.publish(self.pod)
        tasks = []
        if self.spec.get("readinessProbe"):
            tasks.append(self._readiness(self.spec["readinessProbe"]))
        if self.spec.get("livenessProbe"):
            tasks.append(self._liveness(self.spec["livenessProbe"]))
        if tasks:
            await asyncio.gather(*tasks)

    def _delays(self, probe):
        return (self.kubelet.scaled(probe.get("initialDelaySeconds", 0)),
                self.kubelet.scaled(probe.get("periodSeconds", 10)))

    async def _probe_until_success(self, kind, probe):
        delay, period = self._delays(probe)
        await asyncio.sleep(delay)
        failures = 0
        while True:
            ok, message = await self.kubelet.run_probe(self.pod, self.spec, probe)
            if ok:
                return True
            failures += 1
            if failures >= probe.get("failureThreshold", 3):
                self.kubelet.event(self.pod, "Warning", "Unhealthy", "%s probe failed: %s" % (kind, message))
                self.kubelet.event(self.pod, "Normal", "Killing",
                                   "Container %s failed %s probe, will be restarted" % (self.name, kind.lower()))
                asyncio.ensure_future(self.kill(self.kubelet.grace(self.pod), reason="%sProbe" % kind))
                return False
            await asyncio.sleep(period)

    async def _readiness(self, probe):
        delay, period = self._delays(probe)
        await asyncio.sleep(delay)
        successes = failures = 0
        while True:
            ok, message = await self.kubelet.run_probe(self.pod, self.spec, probe)
            if ok:
                successes, failures = successes + 1, 0
                if not self.ready and successes >= probe.get("successThreshold", 1):
                    self.ready = True
                    self.kubelet.publish(self.pod)
            else:
                successes, failures = 0, failures + 1
                if failures == 1 or failures % 10 == 0:
                    self.kubelet.event(self.pod, "Warning", "Unhealthy", "Readiness probe failed: %s" % message)
                if self.ready and failures >= probe.get("failureThreshold", 3):
                    self.ready = False
                    self.kubelet.publish(self.pod)
            await asyncio.sleep(period)

    async def _liveness(self, probe):
        delay, period = self._delays(probe)
        await asyncio.sleep(delay)
        failures = 0
        while True:
            ok, message = await self.kubelet.run_probe(self.pod, self.spec, probe)
            if ok:
                failures = 0
            else:
                failures += 1
                self.kubelet.event(self.pod, "Warning", "Unhealthy", "Liveness probe failed: %s" % message)
                if failures >= probe.get("failureThreshold", 3):
                    self.kubelet.event(self.pod, "Normal", "Killing",
                                       "Container %s failed liveness probe, will be restarted" % self.name)
                    await self.kill(self.kubelet.grace(self.pod), reason="LivenessProbe")
                    return
            await asyncio.sleep(period)

    async def _watch_memory(self):
        while True:
            self.rss = _tree_rss(self.process.pid, self.kubelet.children_map())
            if self.memory_limit and self.rss > self.memory_limit:
                log.info("OOM-killing %s/%s (rss %d > limit %d)", self.pod["metadata"]["name"], self.name,
                         self.rss, self.memory_limit)
                self.kill_reason = "OOMKilled"
                _signal_group(self.process.pid, signal.SIGKILL)
                return
            await asyncio.sleep(0.5)


def _seconds(value):
    return "%ds" % max(int(round(value)), 1) if value >= 1 else "%dms" % int(value * 1000)


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _children_by_pid():
    """pid -> [child pids], from the parent pid field of every /proc/<pid>/stat."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:
                stat = handle.read()
            # Fields after "(comm)": state, ppid, ... (comm may contain spaces and parentheses).
            ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def _tree_rss(pid, children):
    """RSS of ``pid`` and its descendants; ``children`` maps a pid to its child pids."""
    total, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            total += psutil.Process(current).memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            if current == pid:
                return 0
            continue
        pending.extend(children.get(current, ()))
    return total


class ProcessKubelet(Kubelet):
    def __init__(self, sandbox):
        super().__init__(sandbox)
        self._session = None
        self._extra_catalogs = [sandbox.config.path("catalog.yaml")]
        self._children = None
        self._children_at = 0.0

    def catalog(self):
        # Re-read on every container start so tests can add images at run time.
        return Catalog(paths=[DEFAULT_CATALOG] + [p for p in self._extra_catalogs if os.path.exists(p)])

    def children_map(self):
        """pid -> child pids for every process on the machine, read at most every 0.4 s and
        shared by all containers: psutil's children() scans all of /proc each call, which with
        many pods blocked the event loop (and the ingress and API server on it) for
        milliseconds at a time."""
        now = time.monotonic()
        if self._children is None or now - self._children_at > 0.4:
            self._children, self._children_at = _children_by_pid(), now
        return self._children

    def log_path(self, pod, container):
        meta = pod["metadata"]
        return self.sandbox.config.path("pods", "%s_%s_%s.log" % (meta["namespace"], meta["name"], container))

    def grace(self, pod):
        seconds = pod["spec"].get("terminationGracePeriodSeconds", 30)
        return max(self.scaled(seconds), 1.0)

    async def _http(self):
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=0),
                headers={"User-Agent": "kube-probe/1.30"})
        return self._session

    async def stop(self):
        await asyncio.gather(*(self.kill_pod(uid, 0) for uid in list(self.pods)), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ pods
    def run_pod(self, pod):
        state = self.pods[pod["metadata"]["uid"]]
        state["pod"] = pod
        state["containers"] = [Container(self, pod, spec) for spec in pod["spec"]["containers"]]
        for container in state["containers"]:
            container.task = asyncio.ensure_future(container.run())

    async def kill_pod(self, uid, grace):
        state = self.pods.get(uid)
        if not state:
            return
        containers = state.get("containers") or []
        if grace:
            await asyncio.sleep(TERMINATION_PROPAGATION)
        scaled = max(self.scaled(grace), 1.0) if grace else 0.0
        if containers and grace:
            self.event(state["pod"], "Normal", "Killing", "Stopping container %s" % containers[0].name)
        await asyncio.gather(*(c.stop(scaled) for c in containers), return_exceptions=True)

    def publish(self, pod, finished_phase=None):
        state = self.pods.get(pod["metadata"]["uid"])
        if not state or "containers" not in state:
            return
        statuses = [c.status() for c in state["containers"]]

        def mutate(status):
            status["containerStatuses"] = statuses
            running = any("running" in s["state"] for s in statuses)
            if finished_phase:
                status["phase"] = finished_phase
            elif running or status.get("phase") == "Running":
                status["phase"] = "Running"
        self.update_status(pod, mutate)

    def memory(self):
        """(namespace, pod, container, rss bytes, limit bytes) for every running container."""
        rows = []
        for state in self.pods.values():
            for c in state.get("containers") or []:
                meta = c.pod["metadata"]
                rows.append((meta["namespace"], meta["name"], c.name, c.rss, c.memory_limit))
        return rows

    # ------------------------------------------------------------------ probes
    async def run_probe(self, pod, container, probe):
        """(ok, message) for one probe attempt: httpGet, tcpSocket or exec."""
        current = self.current(pod) or pod
        ip = (current.get("status") or {}).get("podIP")
        timeout = max(float(probe.get("timeoutSeconds", 1)), 0.5)
        try:
            if "httpGet" in probe:
                action = probe["httpGet"]
                port = _port(container, action.get("port"))
                scheme = action.get("scheme", "HTTP").lower()
                url = "%s://%s:%s%s" % (scheme, action.get("host") or ip, port, action.get("path", "/"))
                headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
                session = await self._http()
                async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout),
                                       ssl=False, allow_redirects=False) as response:
                    await response.read()
                    if 200 <= response.status < 400:
                        return True, ""
                    return False, "HTTP probe failed with statuscode: %d" % response.status
            if "tcpSocket" in probe:
                port = _port(container, probe["tcpSocket"].get("port"))
                _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout)
                writer.close()
                return True, ""
            if "exec" in probe:
                proc = await asyncio.create_subprocess_exec(
                    *probe["exec"].get("command", []), stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
                try:
                    code = await asyncio.wait_for(proc.wait(), timeout)
                except asyncio.TimeoutError:
                    proc.kill()
                    return False, "command timed out"
                return code == 0, "command exited with %d" % code
            return False, "probe type not supported by the sandbox"
        except asyncio.TimeoutError:
            return False, "Get \"%s\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)" % (
                probe.get("httpGet", {}).get("path", ""))
        except (aiohttp.ClientError, OSError) as err:
            return False, "dial tcp %s: connect: %s" % (ip, getattr(err, "strerror", None) or err)


def _port(container, port):
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    raise OSError("port %r not found in container %s" % (port, container["name"]))
