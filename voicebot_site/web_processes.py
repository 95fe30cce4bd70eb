"""How many Daphne processes `manage.py serve` runs, and the one listening socket they share.

The parent binds HOST:PORT once and hands the socket to every Daphne child (`daphne --fd`): the kernel gives each
new connection to whichever child accepts it first, usually the least busy one, and a connection (a call's media
stream) stays in the child that accepted it. No port per process, no proxy in between. IPv4 only: Daphne's `--fd`
(Twisted's `fd:` endpoint) adopts the socket as AF_INET, and an IPv6 one would give every request a garbled
client address.

Plain Python, no Django: settings.py reads WEB_PROCESSES through `web_processes_count`.
"""
import ctypes
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Callable

# `auto`: one per usable core, at most this many. Each process holds its own memory (about 100 MB) and, on SQLite,
# is one more writer of one database file; past a few cores, PostgreSQL + Redis (see the README) is the way to grow.
WEB_PROCESSES_AUTO_MAX = 8
WEB_PROCESSES_MAX = 64
# Connections the kernel keeps waiting for an accept(), shared by the children (capped by net.core.somaxconn).
LISTEN_BACKLOG = 1024
ASGI_APPLICATION = "voicebot_site.asgi:application"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def web_processes_count(value: str) -> int:
    """`auto` (the usable cores, at most WEB_PROCESSES_AUTO_MAX) or a whole number from 1 to WEB_PROCESSES_MAX."""
    text = str(value).strip().lower()
    if text == "auto":
        return max(1, min(len(os.sched_getaffinity(0)), WEB_PROCESSES_AUTO_MAX))
    if not text.isdigit() or not 1 <= int(text) <= WEB_PROCESSES_MAX:
        raise ValueError(f"WEB_PROCESSES must be `auto` or a whole number from 1 to {WEB_PROCESSES_MAX}, not {value!r}")
    return int(text)


def is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False  # a name: resolved as IPv4 by bind()


def listening_socket(*, host: str, port: int) -> socket.socket:
    """HOST:PORT bound and listening, inheritable by children. Raises OSError (address in use, ...)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once over connections in TIME_WAIT
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def daphne_command(*, fd: int | None = None, host: str = "", port: int = 0) -> list[str]:
    """Daphne serving the ASGI app on the inherited socket `fd`, or binding `host`:`port` itself."""
    where = ["--fd", str(fd)] if fd is not None else ["-b", host, "-p", str(port)]
    return [sys.executable, "-m", "daphne", *where, ASGI_APPLICATION]


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send the child SIGTERM when this process ends, even killed (SIGKILL, OOM):
    no Daphne outlives `serve` holding the port. Linux only (None elsewhere). It runs in the forked child before
    exec and calls only prctl and getppid."""
    if not sys.platform.startswith("linux"):
        return None
    prctl, parent = ctypes.CDLL(None, use_errno=True).prctl, os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent ended before prctl took effect
            os._exit(1)

    return preexec
