"""Stored transcripts as readable Bot/Client turns for the call page.

The relay's live transcript stores `{"speaker": "bot"|"callee", "text", "start_ms", ...}`; the post-call transcript
may name speakers and times differently, and old calls only have the `conversation` text. All three become
`{"speaker": "Bot"|"Client", "text", "at": "M:SS"}`.
"""
from calls.review.exports import format_duration

# Names the relay, the post-call transcript or other tools use for the bot (extraction.turns reads this too).
BOT_NAMES = frozenset({"bot", "assistant", "agent", "ai"})
_CLIENT = frozenset({"client", "callee", "user", "customer", "human"})


def transcript_turns(turns: object) -> list[dict[str, str]]:
    if not isinstance(turns, list):
        return []
    rows = []
    for turn in turns:
        if isinstance(turn, str):
            rows.append({"speaker": "", "text": turn, "at": ""})
        elif isinstance(turn, dict):
            text = turn.get("text") or turn.get("content") or turn.get("transcript") or ""
            rows.append({"speaker": _speaker(turn.get("speaker") or turn.get("role")), "text": str(text),
                         "at": format_duration(_start_seconds(turn))})
    return rows


def conversation_turns(conversation: str) -> list[dict[str, str]]:
    """`Bot: …` / `Client: …` lines; a line without a speaker continues the previous turn."""
    rows: list[dict[str, str]] = []
    for line in (conversation or "").splitlines():
        speaker, sep, text = line.partition(":")
        if sep and speaker.strip().lower() in BOT_NAMES | _CLIENT:
            rows.append({"speaker": _speaker(speaker), "text": text.strip(), "at": ""})
        elif rows and line.strip():
            rows[-1]["text"] += "\n" + line.strip()
        elif line.strip():
            rows.append({"speaker": "", "text": line.strip(), "at": ""})
    return rows


def _speaker(value: object) -> str:
    who = str(value or "").strip().lower()
    if who in BOT_NAMES:
        return "Bot"
    if who in _CLIENT:
        return "Client"
    return who.title()


def _start_seconds(turn: dict) -> float | None:
    for key, scale in (("start_ms", 1000), ("start", 1), ("at", 1)):
        if isinstance(turn.get(key), int | float) and not isinstance(turn.get(key), bool):
            return turn[key] / scale
    return None
