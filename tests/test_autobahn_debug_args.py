"""autobahn's per-frame debug-log arguments are handed over plain (no click colouring on every websocket frame)."""
from autobahn.twisted import websocket as twisted_websocket
from autobahn.websocket import protocol

import voicebot_site.asgi  # noqa: F401 (installs it, as Daphne loading the application does)


def test_the_websocket_modules_format_no_debug_arguments():
    for module in (protocol, twisted_websocket):
        assert module.hlval("tcp:127.0.0.1:5000") == "tcp:127.0.0.1:5000"
        assert module.hltype(len) is len
