"""autobahn (Daphne's websocket layer) colours the arguments of its debug-log lines on every websocket read and write,
whether or not anything logs at debug level: `hltype`/`hlval` run `click.style` a few times per frame, some 10 us,
at 100 frames a second per live call. `install_plain_debug_args()`, called by asgi.py before Daphne accepts a
connection, has the two websocket modules hand the values over unformatted: its debug lines (off in production)
read the same, without colours.
"""
from typing import Any

from autobahn.twisted import websocket as twisted_websocket
from autobahn.websocket import protocol


def _plain(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value


def install_plain_debug_args() -> None:
    for module in (protocol, twisted_websocket):
        module.hltype = module.hlval = _plain
