"""Real processes for end-to-end tests: Daphne serving the real ASGI app and a django-q2 `qcluster` worker.

They share a private database that the test reaches through the product's doors, as a customer would: a SQLite
file, or, when DATABASE_URL names a PostgreSQL server (the scale-out run, `make test-scale`), a database of its own
created on that server and dropped at `stop_all()`. With REDIS_URL the processes share that Redis under a key prefix
of their own (REDIS_PREFIX), so neither the test run's layer and queue nor another Stack's can reach them.
"""
import atexit
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from simulator.polling import wait_for

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    def listening() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_for(listening, timeout=timeout, interval=0.1, what=f"a server listening on 127.0.0.1:{port}")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc), zombies included."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue  # it ended while we looked
    return sorted(found)


def tcp_connections(port: int, pids: list[int]) -> dict[int, list[int]]:
    """For each of `pids`, the remote ports of the established IPv4 connections it holds to 127.0.0.1:`port`:
    which process accepted which client, from /proc/net/tcp and each process's descriptors."""
    remote_by_inode = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if state == "01" and int(local.split(":")[1], 16) == port:  # 01: ESTABLISHED
            remote_by_inode[inode] = int(remote.split(":")[1], 16)
    held = {}
    for pid in pids:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
        held[pid] = sorted(remote_by_inode[inode] for inode in inodes & remote_by_inode.keys())
    return held


def serving_pids(port: int, launcher: subprocess.Popen, count: int, *, timeout: float = 60) -> list[int]:
    """Wait until `launcher` (`manage.py serve`) has `count` Daphne children that each accepted a connection on
    127.0.0.1:`port`, and return their pids. Opens plain connections one by one (all closed on return) until every
    child holds one: proof that each serves the shared port, and that each is up."""
    opened: list[socket.socket] = []

    def every_child_accepts() -> list[int] | None:
        if launcher.poll() is not None:
            raise RuntimeError(f"serve exited with {launcher.returncode}")
        pids = [pid for pid in child_pids(launcher.pid) if b"daphne" in _cmdline(pid)]
        if len(pids) == count and all(tcp_connections(port, pids).values()):
            return pids
        if len(opened) < 1000:
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        return None

    try:
        return wait_for(every_child_accepts, timeout=timeout, interval=0.05,
                        what=f"{count} Daphne processes accepting on port {port}")
    finally:
        for sock in opened:
            sock.close()


def connection_accepted_by(port: int, pids: list[int], *, wanted: Callable[[int], bool]
                           ) -> tuple[http.client.HTTPConnection, int]:
    """A keep-alive HTTP connection to 127.0.0.1:`port` and the pid that accepted it, opened again until one of
    `pids` that `wanted(pid)` accepts it: a request on it lands on that process."""
    for _ in range(200):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=70)
        connection.connect()
        client = connection.sock.getsockname()[1]
        owner = wait_for(lambda: next((pid for pid, held in tcp_connections(port, pids).items() if client in held),
                                      None), timeout=10, what=f"a web process to accept client port {client}")
        if wanted(owner):
            return connection, owner
        connection.close()
    raise AssertionError("200 connections and none was accepted by the wanted process")


def json_request(connection: http.client.HTTPConnection, method: str, path: str, *, token: str,
                 body: dict) -> tuple[int, dict]:
    """`body` as JSON on an open connection, as the staff user of `token`; the status and the decoded answer."""
    connection.request(method, path, body=json.dumps(body),
                       headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _admin_sql(url: str, statement: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    # CREATE/DROP DATABASE cannot run in a transaction, nor while connected to the database itself.
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


def create_database(url: str, name: str) -> str:
    """Create an empty database `name` on the PostgreSQL server of `url` and return `url` pointing at it."""
    _admin_sql(url, "CREATE DATABASE {}", name)
    return _with_database(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database `name` on the server of `url`, closing whatever sessions a killed process left behind."""
    _admin_sql(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete the keys of the Redis at `url` that carry `prefix` (the channel layer's and django-q2's)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        # "<prefix>:asgi..." (channels_redis) and "django_q:<prefix>:..." (django-q2); not "<prefix>1:..."
        patterns = (f"{prefix}:*", f"*:{prefix}:*")
        keys = {key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)}
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def uses_postgresql(url: str) -> bool:
    return urlsplit(url).scheme in ("postgres", "postgresql", "pgsql")


@dataclass
class Stack:
    """One deployment of voicebot for a test: its environment, its processes, a staff token."""

    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)
    token: str = ""

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voicebot_site.settings",
            "SQLITE_PATH": str(self.tmp / "db.sqlite3"),
            "MEDIA_ROOT": str(self.tmp / "media"),
            "CACHE_DIR": str(self.tmp / "cache"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        self.name = f"voicebot_e2e_{secrets.token_hex(6)}"
        self.database_url = ""
        self._server_url = ""
        if uses_postgresql(self.env.get("DATABASE_URL", "")):
            self._server_url = self.env["DATABASE_URL"]
            self.database_url = self.env["DATABASE_URL"] = create_database(self._server_url, self.name)
            atexit.register(self.drop_database)  # also when a test forgets stop_all() or the run is interrupted
        # Its own django-q2 queue and channel-layer keys, whichever broker; never the test run's (inherited) ones.
        self.env["REDIS_PREFIX"] = self.extra_env.get("REDIS_PREFIX", self.name)

    def drop_database(self) -> None:
        """Drop this Stack's PostgreSQL database and Redis keys (nothing to do on SQLite); safe to call twice."""
        if self._server_url:
            server, self._server_url = self._server_url, ""
            drop_database(server, self.name)
        if self.env.get("REDIS_URL"):
            delete_redis_keys(self.env["REDIS_URL"], self.env["REDIS_PREFIX"])

    def connect(self):
        """A DB-API connection to this Stack's database (psycopg or sqlite3) for a test's assertions; close it."""
        if self.database_url:
            import psycopg

            return psycopg.connect(self.database_url, autocommit=True)
        import sqlite3

        return sqlite3.connect(self.env["SQLITE_PATH"])

    def manage(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=check,
                              capture_output=True, text=True, timeout=timeout)

    def prepare(self) -> None:
        """Migrate and create a staff user with an API token."""
        self.manage("migrate", "--noinput", "-v", "0")
        script = (
            "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token;"
            "u = get_user_model().objects.create_superuser('ops', 'ops@example.com', 'pw-ops');"
            "print(Token.objects.create(user=u).key)"
        )
        self.token = self.manage("shell", "-c", script).stdout.strip().splitlines()[-1]

    def start_daphne(self, port: int | None = None) -> int:
        port = port or free_port()
        log = open(self.tmp / f"daphne-{port}.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicebot_site.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        wait_for_port(port, process=process)
        return port

    def start_serve(self, *args: str, port: int | None = None) -> tuple[int, subprocess.Popen]:
        """`manage.py serve --port <port> <args>` (the product's own launcher); returns once the port listens, which
        the launcher binds before its Daphne processes are up (see `serving_pids`)."""
        port = port or free_port()
        log = open(self.tmp / f"serve-{port}.log", "w")
        process = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), *args], cwd=ROOT,
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        wait_for_port(port, process=process)
        return port, process

    def start_worker(self) -> subprocess.Popen:
        log = open(self.tmp / f"qcluster-{secrets.token_hex(3)}.log", "w")
        process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=self.env,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        self.drop_database()

    def logs(self, *, tail: int | None = 4000) -> str:
        """Every process's log (the last `tail` characters of each; None for all of it)."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-tail if tail else 0:]}" for path in sorted(self.tmp.glob("*.log"))
        )
