"""Sandbox settings, shared by the CLI (which writes them) and the daemon (which reads them)."""
import json
import os
from dataclasses import asdict, dataclass, field


@dataclass
class SandboxConfig:
    state_dir: str
    # "process": pods are real processes of the sample application (part 2);
    # "simulated": pods are records that turn Ready after a short delay (fast API tests).
    kubelet: str = "process"
    # Probe timings, back-offs and grace periods are multiplied by this, so a test need not
    # wait for the specification's 30 s initial delays.
    time_factor: float = 0.1
    # Optional parts (the simulated kubelet needs none of them).
    prometheus: bool = True
    dependencies: bool = True
    # Namespace where `up` creates the application's dependencies (Secret postgres-credentials,
    # Services postgres and redis-master), as the specification expects them.
    app_namespace: str = "llm-research-lab"
    extra: dict = field(default_factory=dict)

    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)

    def save(self):
        with open(self.path("config.json"), "w") as handle:
            json.dump(asdict(self), handle, indent=2)

    @classmethod
    def load(cls, state_dir):
        with open(os.path.join(state_dir, "config.json")) as handle:
            data = json.load(handle)
        data["state_dir"] = state_dir
        return cls(**data)
