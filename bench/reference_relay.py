"""The reference relay's logic, once, for the two servers that run it: `relay_bench.reference_relay` (a plain
`websockets` server) and `daphne_floor` (a bare ASGI app on Daphne).

The simplest relay there is: Twilio `media` goes to OpenAI as `input_audio_buffer.append`, each
`response.output_audio.delta` comes back as a Twilio `media` plus a `mark`, the base64 passed through, with no
checks, no recording and no database. The transport is the caller's: Twilio's frames as an async iterator of text,
and a coroutine that sends one text frame back.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from websockets.asyncio.client import connect

SESSION = json.dumps({"type": "session.update", "session": {
    "type": "realtime", "instructions": "Be brief.", "output_modalities": ["audio"],
    "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad"}},
              "output": {"format": {"type": "audio/pcmu"}, "voice": "coral"}}}})

SendText = Callable[[str], Awaitable[None]]


async def relay_call(twilio_frames: AsyncIterator[str | bytes], send_to_twilio: SendText, *, realtime_port: int,
                     api_key: str) -> None:
    """One call: Twilio's frames until `stop` (or the end), relayed to and from the Realtime server on the port."""
    url = f"ws://127.0.0.1:{realtime_port}/v1/realtime?model=gpt-realtime"
    openai = pump = None
    try:
        async for raw in twilio_frames:
            frame = json.loads(raw)
            event = frame.get("event")
            if event == "media" and openai is not None:
                await openai.send(json.dumps({"type": "input_audio_buffer.append",
                                              "audio": frame["media"]["payload"]}))
            elif event == "start" and openai is None:
                openai = await connect(url, additional_headers={"Authorization": f"Bearer {api_key}"},
                                       max_size=None, compression=None, ping_interval=None)
                await openai.send(SESSION)
                await openai.send(json.dumps({"type": "response.create"}))
                pump = asyncio.create_task(_bot_to_twilio(openai, send_to_twilio, frame["streamSid"]))
            elif event == "stop":
                break
    finally:
        if pump is not None:
            pump.cancel()
        if openai is not None:
            await openai.close()


async def _bot_to_twilio(openai, send_to_twilio: SendText, stream_sid: str) -> None:
    marks = 0
    async for raw in openai:
        event = json.loads(raw)
        if event.get("type") == "response.output_audio.delta":
            marks += 1
            await send_to_twilio(json.dumps({"event": "media", "streamSid": stream_sid,
                                             "media": {"payload": event["delta"]}}))
            await send_to_twilio(json.dumps({"event": "mark", "streamSid": stream_sid,
                                             "mark": {"name": f"m{marks}"}}))
