"""Stored transcripts as readable Bot/Client turns for the call page.

The relay's live transcript stores `{"speaker": "bot"|"callee", "text", "start_ms", ...}`; the post-call transcript
may name speakers and times differently, and old calls only have the `conversation` text. All three become
`{"speaker": "Bot"|"Client", "text", "at": "M:SS", "seconds": start or None}` (the call page's player seeks there
when a line is clicked).
"""
from calls.review.exports import format_duration
from extraction.turns import BOT_NAMES, CLIENT_NAMES, stored_turns


def transcript_turns(turns: object) -> list[dict[str, object]]:
    """A stored transcript (Call.transcript or Call.live_transcript) as rows of the call page."""
    return [
        {"speaker": _speaker(turn.speaker), "text": turn.text, "at": format_duration(turn.start_seconds),
         "seconds": turn.start_seconds}
        for turn in stored_turns(turns)
    ]


def conversation_turns(conversation: str) -> list[dict[str, object]]:
    """`Bot: …` / `Client: …` lines; a line without a speaker continues the previous turn."""
    rows: list[dict[str, object]] = []
    for line in (conversation or "").splitlines():
        speaker, sep, text = line.partition(":")
        if sep and speaker.strip().lower() in BOT_NAMES | CLIENT_NAMES:
            rows.append({"speaker": _speaker(speaker), "text": text.strip(), "at": "", "seconds": None})
        elif rows and line.strip():
            rows[-1]["text"] += "\n" + line.strip()
        elif line.strip():
            rows.append({"speaker": "", "text": line.strip(), "at": "", "seconds": None})
    return rows


def _speaker(value: object) -> str:
    who = str(value or "").strip().lower()
    if who in BOT_NAMES:
        return "Bot"
    if who in CLIENT_NAMES:
        return "Client"
    return who.title()

