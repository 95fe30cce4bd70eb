"""The simulator: a stand-in for Twilio (REST, signed callbacks, phones that answer with recorded speech) and OpenAI
(Realtime and REST) on loopback sockets, for `make demo` and the tests. It checks what it receives the way the real
services would. It runs only in demo mode (see simulator/__main__.py) and imports nothing from tests/.
"""
