"""Why a call ended, as the relay reports it: the values of `calls.models.EndReason` (no Django import here)."""
from __future__ import annotations

BOT_HANGUP = "bot_hangup"
CALLEE_HANGUP = "callee_hangup"
DURATION_LIMIT = "duration_limit"
SILENCE = "silence"
VOICEMAIL = "voicemail"
TRANSFERRED = "transferred"
AI_UNAVAILABLE = "ai_unavailable"
STREAM_LOST = "stream_lost"

# Realtime error codes after which the session cannot go on (anything else is logged and the call goes on).
FATAL_ERROR_CODES = frozenset({"session_expired", "invalid_api_key", "insufficient_quota", "session_closed"})
