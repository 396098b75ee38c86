"""Real PostgreSQL and Redis servers for the sandbox, run as child processes on loopback.

    pg = start_postgres(state_dir / "postgres")      # initdb on first use, then start
    rd = start_redis(state_dir / "redis", password="s3cret")
    ... pg.url, rd.url ...
    pg.stop(); pg.start()                              # same data, same port
    rd.stop(); pg.stop()

Each server runs in its own session (``start_new_session=True``) so that a Ctrl-C aimed at a
test runner does not kill it half-way; ``stop()`` waits for the server and makes sure none of the
processes it started is left.

PostgreSQL refuses to run as root. When this process is root, the PostgreSQL programs run as
the ``postgres`` system user (else ``nobody``) through ``setpriv``; the data directory is
chowned to that user. If a parent directory is closed to that user (pytest's
``/tmp/pytest-of-root`` is mode 0700), the server additionally gets the single capability
CAP_DAC_READ_SEARCH, which lets it traverse into its own directory, and nothing more.
"""
from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

import psutil

PG_USER = "research"
PG_DATABASE = "research_lab"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# A unix socket path longer than this does not fit into sockaddr_un.
MAX_SOCKET_PATH = 100


class MissingBinary(Exception):
    """A server program is not installed."""

    def __init__(self, name: str, hint: str):
        self.name = name
        self.hint = hint
        super().__init__(f"{name} not found on PATH: {hint}")


class DependencyError(Exception):
    """A dependency server failed to start or stop; the message includes its log's tail."""


_PACKAGE_HINTS = {
    "initdb": "install the Debian package postgresql (PostgreSQL server binaries)",
    "postgres": "install the Debian package postgresql (PostgreSQL server binaries)",
    "pg_ctl": "install the Debian package postgresql (PostgreSQL server binaries)",
    "redis-server": "install the Debian package redis-server",
    "setpriv": "install the Debian package util-linux (needed to run PostgreSQL as non-root)",
}


def find_binary(name: str) -> str:
    """Absolute path of a server program; raises MissingBinary naming the package to install."""
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps PostgreSQL's server programs off PATH, one directory per major version.
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_pg_major, reverse=True)
    if candidates:
        return candidates[0]
    raise MissingBinary(name, _PACKAGE_HINTS.get(name, f"install the package that provides {name}"))


def _pg_major(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Like the servers themselves: connections of a previous run in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _can_connect(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_loopback(host: str) -> None:
    if not host.startswith("127."):
        raise ValueError(f"host {host!r} is not a loopback address (127.0.0.0/8); the sandbox only uses loopback")


class _Process:
    """A server process in its own session, stopped by signalling its process group."""

    def __init__(self, name: str, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def spawn(self, argv: list[str]) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until(self, ready, timeout: float = START_TIMEOUT_S) -> None:
        """Poll ``ready()`` until true; raise DependencyError if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DependencyError(
                    f"{self.name} exited with code {self.proc.returncode} while starting; "
                    f"log {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            if ready():
                return
            time.sleep(0.05)
        self.stop(signal.SIGKILL, 5)
        raise DependencyError(
            f"{self.name} did not become ready within {timeout:.0f} s; log {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    def stop(self, sig: int, timeout: float = STOP_TIMEOUT_S) -> None:
        """Send ``sig`` to the server, wait for it, then make sure none of its processes is left."""
        if self.proc is None:
            return
        # PostgreSQL's children call setsid(), so the process group alone does not find them.
        children = _children(self.proc.pid)
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        _, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:
            child.kill()
        psutil.wait_procs(alive, timeout=5)
        self.proc = None


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


# --------------------------------------------------------------------------- running as non-root


class _RunAs:
    """How to run a program that refuses root: an argv prefix, and the uid/gid that owns its files."""

    def __init__(self, workdir: Path):
        self.prefix: list[str] = []
        self.uid = os.geteuid()
        self.gid = os.getegid()
        if self.uid != 0:
            return
        account = _unprivileged_account()
        self.uid, self.gid = account.pw_uid, account.pw_gid
        os.chown(workdir, self.uid, self.gid)
        base = [find_binary("setpriv"), f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
        self.prefix = base
        if not self._can_write(workdir):
            self.prefix = base + ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
            if not self._can_write(workdir):
                raise DependencyError(
                    f"user {account.pw_name} cannot write to {workdir} even with CAP_DAC_READ_SEARCH; "
                    "choose a data directory on a local file system"
                )

    def _can_write(self, directory: Path) -> bool:
        # A real chdir and file creation: access(2) (test -w) ignores capabilities.
        probe = subprocess.run(self.prefix + ["sh", "-c", 'cd "$1" && touch .probe && rm .probe', "sh", str(directory)],
                               stderr=subprocess.DEVNULL)
        return probe.returncode == 0


def _unprivileged_account() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise DependencyError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


# --------------------------------------------------------------------------- PostgreSQL


class PostgresServer:
    """A PostgreSQL cluster under ``data_dir`` (``pgdata/``, ``postgres.log``, ``credentials.json``)."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: Optional[int] = None):
        _check_loopback(host)
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pgdata"
        self.host = host
        self.user = PG_USER
        self.database = PG_DATABASE
        self._credentials_path = self.data_dir / "credentials.json"
        self._process = _Process("postgres", self.data_dir / "postgres.log")
        self.password, saved_port = self._load_or_create_credentials()
        self.port = port or (saved_port if saved_port and _port_is_free(host, saved_port) else free_port(host))

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def _load_or_create_credentials(self) -> tuple[str, Optional[int]]:
        if self._credentials_path.exists():
            saved = json.loads(self._credentials_path.read_text())
            return saved["password"], saved.get("port")
        return secrets.token_urlsafe(18), None

    def _save_credentials(self) -> None:
        self._credentials_path.write_text(json.dumps({"user": self.user, "password": self.password, "port": self.port}))
        self._credentials_path.chmod(0o600)

    def initialise(self) -> None:
        """initdb, server settings, and the application's role and database (once per data dir)."""
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        run_as = _RunAs(self.pgdata)
        self._run(run_as, [find_binary("initdb"), "-D", str(self.pgdata), "-U", "postgres", "-E", "UTF8",
                           "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"])
        self._write_settings()
        # Single-user mode creates the role and database without a running server or client library.
        sql = (f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}';\n"
               f"CREATE DATABASE {self.database} OWNER {self.user};\n")
        self._run(run_as, [find_binary("postgres"), "--single", "-D", str(self.pgdata), "postgres"], stdin=sql)
        self._save_credentials()

    def _write_settings(self) -> None:
        socket_dir = str(self.pgdata) if len(str(self.pgdata)) + 20 < MAX_SOCKET_PATH else ""
        settings = {
            "max_connections": "500",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "unix_socket_directories": f"'{socket_dir}'",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write("\n# sandbox settings (tests/sandbox/deps.py)\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        with open(self.pgdata / "pg_hba.conf", "w") as hba:
            hba.write("local all all trust\n"
                      "host all all 127.0.0.0/8 scram-sha-256\n")

    def _run(self, run_as: _RunAs, argv: list[str], stdin: Optional[str] = None) -> None:
        with open(self._process.log_path, "ab") as log:
            result = subprocess.run(run_as.prefix + argv, input=stdin.encode() if stdin else None,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if result.returncode != 0:
            raise DependencyError(
                f"{Path(argv[0]).name} failed with code {result.returncode}; log {self._process.log_path}:\n"
                f"{_log_tail(self._process.log_path)}"
            )

    def start(self) -> "PostgresServer":
        """Start the server (initialising the data dir the first time); returns once it accepts connections."""
        if self.pid:
            return self
        self.initialise()
        if not _port_is_free(self.host, self.port):
            raise DependencyError(f"cannot start postgres: port {self.host}:{self.port} is in use")
        run_as = _RunAs(self.pgdata)
        self._process.spawn(run_as.prefix + [
            find_binary("postgres"), "-D", str(self.pgdata), "-p", str(self.port), "-c", f"listen_addresses={self.host}",
        ])
        self._process.wait_until(self._accepts_connections)
        self._save_credentials()
        return self

    def _accepts_connections(self) -> bool:
        # Line 8 of postmaster.pid reads "ready" once the server accepts connections.
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and _can_connect(self.host, self.port)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, disconnect clients); waits for exit."""
        self._process.stop(signal.SIGINT)

    def __enter__(self) -> "PostgresServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_postgres(data_dir: Path, host: str = "127.0.0.1", port: Optional[int] = None) -> PostgresServer:
    """Start a PostgreSQL server with data under ``data_dir``; returns when it accepts connections."""
    return PostgresServer(data_dir, host, port).start()


# --------------------------------------------------------------------------- Redis


class RedisServer:
    """A redis-server without persistence, configured by ``data_dir/redis.conf``."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: Optional[int] = None,
                 password: Optional[str] = None):
        _check_loopback(host)
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port or free_port(host)
        self.password = password
        self._process = _Process("redis-server", self.data_dir / "redis.log")

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def _write_config(self) -> Path:
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            "daemonize no",
            'save ""',
            "appendonly no",
            f"dir {self.data_dir}",
            'logfile ""',
            "maxclients 10000",
            # Keep the environment readable: `down` finds leftovers by their SANDBOX_ID.
            "set-proc-title no",
        ]
        if self.password:
            lines.append(f"requirepass {self.password}")
        path = self.data_dir / "redis.conf"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    def start(self) -> "RedisServer":
        """Start redis-server; returns once it answers PING."""
        if self.pid:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not _port_is_free(self.host, self.port):
            raise DependencyError(f"cannot start redis-server: port {self.host}:{self.port} is in use")
        config = self._write_config()
        self._process.spawn([find_binary("redis-server"), str(config)])
        self._process.wait_until(self.ping)
        return self

    def ping(self) -> bool:
        """True when the server answers PING (after AUTH if it has a password)."""
        request = b"PING\r\n"
        if self.password:
            request = f"AUTH {self.password}\r\n".encode() + request
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as conn:
                conn.sendall(request)
                reply = b""
                while b"PONG" not in reply and not reply.startswith(b"-"):
                    chunk = conn.recv(256)
                    if not chunk:
                        break
                    reply += chunk
                return b"+PONG" in reply
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (no persistence configured, so nothing is saved); waits for exit."""
        self._process.stop(signal.SIGTERM)

    def __enter__(self) -> "RedisServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_redis(data_dir: Path, host: str = "127.0.0.1", port: Optional[int] = None,
                password: Optional[str] = None) -> RedisServer:
    """Start a redis-server with its config under ``data_dir``; returns when it answers PING."""
    return RedisServer(data_dir, host, port, password).start()
