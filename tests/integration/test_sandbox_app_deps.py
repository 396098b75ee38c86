"""Real PostgreSQL and Redis servers started by tests/sandbox/deps.py."""
import asyncio
import socket

import asyncpg
import psutil
import pytest

from tests.sandbox.deps import MissingBinary, find_binary, start_postgres, start_redis


def processes_using(path):
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(path) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def redis_command(server, *commands):
    with socket.create_connection((server.host, server.port), timeout=2) as conn:
        conn.sendall(b"".join(c.encode() + b"\r\n" for c in commands))
        conn.settimeout(2)
        reply = b""
        while reply.count(b"\r\n") < len(commands):
            reply += conn.recv(1024)
    return reply.decode()


def test_postgres_has_the_application_role_and_database_and_keeps_data_across_restarts(tmp_path):
    pg = start_postgres(tmp_path / "pg")
    try:
        assert pg.url == f"postgresql://research:{pg.password}@127.0.0.1:{pg.port}/research_lab"
        assert pg.pid and psutil.pid_exists(pg.pid)

        async def create_and_read_settings():
            conn = await asyncpg.connect(pg.url)
            await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
            settings = {name: await conn.fetchval(f"SHOW {name}") for name in ("max_connections", "fsync")}
            await conn.close()
            return settings

        assert asyncio.run(create_and_read_settings()) == {"max_connections": "500", "fsync": "off"}
        port = pg.port
        pg.stop()
        assert pg.pid is None and processes_using(tmp_path / "pg") == []
        pg.start()
        assert pg.port == port

        async def read_back():
            conn = await asyncpg.connect(pg.url)
            value = await conn.fetchval("SELECT v FROM kept")
            await conn.close()
            return value

        assert asyncio.run(read_back()) == 42
    finally:
        pg.stop()
    assert processes_using(tmp_path / "pg") == []


def test_postgres_refuses_a_wrong_password(tmp_path):
    pg = start_postgres(tmp_path / "pg")
    try:
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(asyncpg.connect(pg.url.replace(pg.password, "wrong")))
    finally:
        pg.stop()


def test_redis_with_a_password_demands_auth_and_restarts_on_its_port(tmp_path):
    rd = start_redis(tmp_path / "redis", password="s3cret")
    try:
        assert rd.url == f"redis://:s3cret@127.0.0.1:{rd.port}/0"
        assert redis_command(rd, "PING").startswith("-NOAUTH")
        assert redis_command(rd, "AUTH s3cret", "PING") == "+OK\r\n+PONG\r\n"
        port = rd.port
        rd.stop()
        assert rd.pid is None and not rd.ping()
        rd.start()
        assert rd.port == port and rd.ping()
    finally:
        rd.stop()
    assert processes_using(tmp_path / "redis") == []


def test_a_missing_binary_names_the_debian_package(tmp_path, monkeypatch):
    assert find_binary("initdb").endswith("initdb")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(MissingBinary) as info:
        find_binary("redis-server")
    assert str(info.value) == "redis-server not found on PATH: install the Debian package redis-server"
    with pytest.raises(MissingBinary, match="no-such-server-binary"):
        find_binary("no-such-server-binary")


def test_servers_refuse_a_non_loopback_host(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        start_redis(tmp_path / "r", host="0.0.0.0")
