"""The live-call relay between Twilio Media Streams and the OpenAI Realtime API: pure asyncio, no Django."""
from .ai_events import RealtimeConnection
from .events import TranscriptTurn
from .recorder import Recorder
from .relay import Relay
from .session import RelaySettings, TurnDetection

__all__ = ["Recorder", "Relay", "RealtimeConnection", "RelaySettings", "TranscriptTurn", "TurnDetection"]
