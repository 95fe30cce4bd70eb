"""The opening line in the bot's own voice, rendered ahead of time so the callee hears it the moment they answer.

A fixed opening line (no `{variables}`: see `cacheable`) is rendered once through OpenAI's speech endpoint
(`POST /v1/audio/speech`, OPENAI_TTS_MODEL, the call's voice, `pcm` = 24 kHz 16-bit mono), converted to 8 kHz mu-law
(Twilio's format) and kept under MEDIA_ROOT/openings/<profile>/<key>.ulaw, private like the recordings (file 0600,
folders 0700). The key is a hash of model, voice and text: a changed line or voice is simply another file, rendered
again. A live call only ever reads the file (`opening_audio_cached`); when it is missing the call goes on as before
(the live model says the line) and a render is queued (`opening_audio_enqueue`) for the next calls. `manage.py
render_openings` renders every profile's line ahead of time.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from calls.agent_config import AgentConfig, load_agent_config, profile_names
from calls.live.relay.mulaw import pcm24k_to_ulaw8k
from voicebot_site.private_files import private_file_open

logger = logging.getLogger(__name__)

FOLDER = "openings"
DEFAULT_PROFILE = "_default"  # AI/'s own line (no profile); not a valid profile name, so never a profile's folder
RENDER_REQUEUE_S = 600  # a queued render that has not produced the file by then (the service refused?) is queued again
_queued: dict[str, float] = {}  # key -> when this process queued its render: one per line, not one per call


def cacheable(text: str) -> bool:
    """Whether a line can be rendered once for every call: it must be the same for everyone, so any `{` or `}`
    (a variable filled per contact, e.g. `{contact_name}`) rules it out."""
    return bool(text.strip()) and "{" not in text and "}" not in text


@dataclass(frozen=True)
class OpeningLine:
    profile: str  # "" for AI/'s own
    text: str
    voice: str
    model: str

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.model}\0{self.voice}\0{self.text}".encode()).hexdigest()[:32]

    @property
    def path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / FOLDER / (self.profile or DEFAULT_PROFILE) / f"{self.key}.ulaw"


def opening_line(config: AgentConfig, profile: str = "") -> OpeningLine | None:
    """The call's opening line as it would be cached, or None when it cannot be (variables, or OPENING_CACHE off)."""
    text = config.agent.opening()  # the disclosure and the line, as the bot says them
    if not settings.OPENING_CACHE or not cacheable(text):
        return None
    return OpeningLine(profile=profile, text=text, voice=settings.OPENAI_AUDIO_VOICE, model=settings.OPENAI_TTS_MODEL)


def opening_audio_cached(line: OpeningLine | None) -> bytes | None:
    """The rendered line (8 kHz mu-law), or None if it has not been rendered yet. A file read: never the network."""
    if line is None:
        return None
    try:
        return line.path.read_bytes() or None
    except FileNotFoundError:
        return None
    except OSError as exc:  # the media folder is broken: the call goes on without it (and its recording will say)
        logger.warning("Cached opening line unreadable profile=%s: %s", line.profile or "-", exc)
        return None


def opening_audio_render(line: OpeningLine) -> Path:
    """Render `line` through the speech endpoint and store it (unless it is there already); returns its path.
    Raises `openai.OpenAIError` (or ImproperlyConfigured without a key) when the service refuses."""
    if line.path.exists():
        return line.path
    from extraction.llm_client import openai_get_client  # the REST client (key, base URL, timeout) of the worker

    response = openai_get_client().audio.speech.create(
        model=line.model, voice=line.voice, input=line.text, response_format="pcm")
    audio = pcm24k_to_ulaw8k(response.content)
    partial = line.path.with_name(f".{line.key}.{os.getpid()}.part")
    with private_file_open(partial) as out:
        out.write(audio)
    partial.replace(line.path)  # whole or not at all: a live call never reads half a line
    logger.info("Opening line rendered profile=%s voice=%s: %d ms -> %s", line.profile or "-", line.voice,
                len(audio) // 8, line.path.name)
    return line.path


def opening_audio_enqueue(line: OpeningLine) -> None:
    """Queue a render of `line` on the worker (once per process and line, again after RENDER_REQUEUE_S if the file
    has still not appeared). Never on the audio path."""
    now = time.monotonic()
    if now - _queued.get(line.key, -RENDER_REQUEUE_S) < RENDER_REQUEUE_S:
        return
    from django_q.tasks import async_task

    _queued[line.key] = now
    async_task("calls.tasks.opening_audio_render", line.profile, task_name=f"opening-{line.key}")


def opening_audio_render_profile(profile: str) -> Path | None:
    """Render the opening line of `profile` ("" for AI/'s own) if it can be cached; returns its path, or None."""
    line = opening_line(load_agent_config(settings.AI_CONFIG_DIR, profile), profile)
    return None if line is None else opening_audio_render(line)


def opening_profiles() -> list[str]:
    """AI/'s own line ("") and every agent profile's."""
    return ["", *profile_names(settings.AI_CONFIG_DIR)]
