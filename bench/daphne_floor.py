"""The floor of the design card's server: Daphne (Twisted + autobahn) running the reference relay's logic as a bare
ASGI app, with no Django, no Channels and no relay work (no checks, no recording, no marks of our own).

`bench/relay_bench.py --floor` runs it beside the reference (`websockets`) and voicebot in the same invocation: what
Daphne itself costs per frame is what no change inside voicebot's consumer can win back.

    python -m daphne -b 127.0.0.1 -p PORT bench.daphne_floor:application    # REALTIME_PORT and API_KEY in the env
"""
from __future__ import annotations

import asyncio
import json
import os

from websockets.asyncio.client import connect

SESSION = json.dumps({"type": "session.update", "session": {
    "type": "realtime", "instructions": "Be brief.", "output_modalities": ["audio"],
    "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad"}},
              "output": {"format": {"type": "audio/pcmu"}, "voice": "coral"}}}})


async def _bot_to_twilio(openai, send, stream_sid: str) -> None:
    marks = 0
    async for raw in openai:
        event = json.loads(raw)
        if event.get("type") == "response.output_audio.delta":
            marks += 1
            await send({"type": "websocket.send", "text": json.dumps(
                {"event": "media", "streamSid": stream_sid, "media": {"payload": event["delta"]}})})
            await send({"type": "websocket.send", "text": json.dumps(
                {"event": "mark", "streamSid": stream_sid, "mark": {"name": f"m{marks}"}})})


async def application(scope, receive, send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    url = f"ws://127.0.0.1:{os.environ['REALTIME_PORT']}/v1/realtime?model=gpt-realtime"
    openai = pump = None
    try:
        while (message := await receive())["type"] == "websocket.receive":
            frame = json.loads(message.get("text") or message.get("bytes"))
            event = frame.get("event")
            if event == "media" and openai is not None:
                await openai.send(json.dumps({"type": "input_audio_buffer.append",
                                              "audio": frame["media"]["payload"]}))
            elif event == "start" and openai is None:
                openai = await connect(url, additional_headers={"Authorization": f"Bearer {os.environ['API_KEY']}"},
                                       max_size=None, compression=None, ping_interval=None)
                await openai.send(SESSION)
                await openai.send(json.dumps({"type": "response.create"}))
                pump = asyncio.create_task(_bot_to_twilio(openai, send, frame["streamSid"]))
            elif event == "stop":
                break
    finally:
        if pump is not None:
            pump.cancel()
        if openai is not None:
            await openai.close()
