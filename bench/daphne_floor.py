"""The floor of the design card's server: Daphne (Twisted + autobahn) running the reference relay's logic
(`bench/reference_relay.py`) as a bare ASGI app, with no Django, no Channels and no relay work (no checks, no
recording, no marks of our own).

`bench/relay_bench.py --floor` runs it beside the reference (`websockets`) and voicebot in the same invocation: what
Daphne itself costs per frame is what no change inside voicebot's consumer can win back.

    python -m daphne -b 127.0.0.1 -p PORT bench.daphne_floor:application    # REALTIME_PORT and API_KEY in the env
"""
from __future__ import annotations

import os

from bench.reference_relay import relay_call


async def application(scope, receive, send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})

    async def twilio_frames():
        while (message := await receive())["type"] == "websocket.receive":
            yield message.get("text") or message.get("bytes")

    async def send_to_twilio(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    await relay_call(twilio_frames(), send_to_twilio, realtime_port=int(os.environ["REALTIME_PORT"]),
                     api_key=os.environ["API_KEY"])
