"""A kubelet whose containers are records: every pod runs and turns Ready after a short
delay. Part 1 of the sandbox and fast API tests use it; ``process.py`` runs real processes."""
import asyncio

from ..apiserver.store import now_rfc3339
from .base import Kubelet


class SimulatedKubelet(Kubelet):
    def __init__(self, sandbox, start_delay=0.2):
        super().__init__(sandbox)
        self.start_delay = start_delay

    def run_pod(self, pod):
        handle = asyncio.get_event_loop().call_later(self.start_delay, self._started, pod)
        self.pods[pod["metadata"]["uid"]]["timer"] = handle

    def _started(self, pod):
        now = now_rfc3339()

        def mutate(status):
            status["phase"] = "Running"
            status["containerStatuses"] = [
                self.running_status(c, now, True, container_id="simulated://%s" % c["name"])
                for c in pod["spec"]["containers"]
            ]

        stored = self.update_status(pod, mutate)
        if stored is not None:
            for container in pod["spec"]["containers"]:
                self.event(stored, "Normal", "Started", "Started container %s" % container["name"])

    async def kill_pod(self, uid, grace):
        state = self.pods.get(uid) or {}
        timer = state.get("timer")
        if timer is not None:
            timer.cancel()
