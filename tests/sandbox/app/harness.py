"""Start the sample application as a real process, the way the sandbox kubelet does (for tests).

    app = launch("harbor.example.com/llm-research-lab/api:v1.3.0-err30", log_dir,
                 env={"DATABASE_URL": pg.url, "REDIS_URL": rd.url})
    app.wait_started()
    requests.get(app.url("/api/v1/status"))
    app.stop()   # SIGTERM, returns the exit code
"""
from __future__ import annotations

import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import requests

from tests.sandbox.catalog import Catalog

ROOT = Path(__file__).resolve().parents[3]
_next_octet = itertools.count(random.randrange(2, 200))
_running: list["AppProcess"] = []


def free_loopback_ip(third_octet: int = 77) -> str:
    """A loopback address 127.0.<third_octet>.x not used by another test process right now."""
    for _ in range(250):
        ip = f"127.0.{third_octet}.{2 + next(_next_octet) % 250}"
        if not any(app.ip == ip for app in _running):
            return ip
    raise RuntimeError("no free loopback address")


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _int_or_zero(text: str) -> int:
    return int(text) if text.isdigit() else 0


class AppProcess:
    """One running application process with its own loopback address and ports."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path):
        self.ip = env["POD_IP"]
        # Tests of bad configuration pass ports that are not numbers.
        self.http_port = _int_or_zero(env["APP_HTTP_PORT"])
        self.metrics_port = _int_or_zero(env.get("APP_METRICS_PORT", ""))
        self.log_path = log_path
        self.env = env
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        _running.append(self)

    def url(self, path: str = "/") -> str:
        return f"http://{self.ip}:{self.http_port}{path}"

    def metrics_url(self) -> str:
        return f"http://{self.ip}:{self.metrics_port}/metrics"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, timeout: float = 30.0) -> None:
        """Wait until /health/startup answers 200; fail with the log if the process dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                if requests.get(self.url("/health/startup"), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"app did not finish startup within {timeout} s:\n{self.log_text()}")

    def wait_listening(self, port: Optional[int] = None, timeout: float = 30.0) -> None:
        """Wait until the process accepts connections on ``port`` (default: APP_HTTP_PORT)."""
        port = port or self.http_port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection((self.ip, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"app did not listen within {timeout} s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> Optional[int]:
        """Signal the process and wait; kills it if it does not exit in time. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self in _running:
            _running.remove(self)
        return self.proc.returncode


def launch(image: str, log_dir: Path, env: Optional[dict] = None, module: Optional[str] = None,
           catalog: Optional[Catalog] = None) -> AppProcess:
    """Start the process for ``image`` as the kubelet would: catalog command + environment."""
    behaviour = (catalog or Catalog()).resolve(image)
    if behaviour is None:
        raise ValueError(f"image {image!r} is not in the catalog")
    ip = free_loopback_ip()
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "POD_IP": ip,
        "POD_NAME": f"pod-{ip.rsplit('.', 1)[1]}",
        "POD_NAMESPACE": "llm-research-lab",
        "APP_HTTP_PORT": str(free_port(ip)),
        "APP_METRICS_PORT": str(free_port(ip)),
        **behaviour.environment(),
        **(env or {}),
    }
    argv = behaviour.command(sys.executable) if module is None else [sys.executable, "-m", module]
    log_path = Path(log_dir) / f"{full_env['POD_NAME']}-{int(time.time() * 1000)}.log"
    return AppProcess(argv, full_env, log_path)


def stop_all() -> None:
    """Stop every process this harness started and that is still running."""
    for app in list(_running):
        app.stop(signal.SIGKILL, 5)
