"""The live-call relay between Twilio Media Streams and the OpenAI Realtime API: pure asyncio, no Django."""
from .recorder import Recorder
from .relay import Relay, RealtimeConnection
from .session import RelaySettings, TurnDetection
from .transcript import TranscriptTurn

__all__ = ["Recorder", "Relay", "RealtimeConnection", "RelaySettings", "TranscriptTurn", "TurnDetection"]
