"""The post-call steps in order, computing everything in memory; services.py stores the outcome.

    load        read the WAV (stereo: left = Client, right = Bot; mono: one mixed channel)
    diarize     who speaks when: the channel itself for stereo (exact); pyannote for mono (checked before paying
                for speech-to-text)
    transcribe  speech to text per channel, with segment timestamps on the call's clock
    merge       timed Bot/Client turns and the 'Bot: …' conversation text
    extract     the EXTRACTION_SCHEMA fields from the labelled conversation (skipped when nobody spoke)

With TRANSCRIPT_SOURCE=live, load/diarize/transcribe are skipped and the live transcript is merged instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from calls.models import Call
from extraction import diarization
from extraction.audio import Recording, RecordingError, recording_read
from extraction.exceptions import ProcessingError
from extraction.extractor import data_extract
from extraction.steps import Step, StepFailed, step_run, step_skip
from extraction.transcription import channel_transcribe, transcription_prompt
from extraction.turns import BOT, CLIENT, Segment, conversation_text, turns_from_live, turns_merge

# Our recorder's layout: the callee on the left, the bot on the right.
STEREO_SPEAKERS = (CLIENT, BOT)
EMPTY_TRANSCRIPT = "nothing to extract: the transcript is empty (nobody said anything)"


@dataclass
class Outcome:
    source: str
    steps: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, Any]] | None = None
    data: dict[str, Any] | None = None
    error: str = ""
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def pipeline_run(*, call: Call) -> Outcome:
    outcome = Outcome(source=settings.TRANSCRIPT_SOURCE)
    sid = call.twilio_sid or f"#{call.pk}"
    try:
        if outcome.source == "live":
            for name in ("load", "diarize", "transcribe"):
                step_skip(outcome.steps, name, reason="TRANSCRIPT_SOURCE=live: the live transcript is used")
            with step_run(outcome.steps, "merge", call_sid=sid):
                outcome.turns = turns_from_live(call.live_transcript)
        else:
            outcome.turns = _turns_from_recording(call, outcome.steps, sid)
        _extract(outcome, sid, call.agent_profile)
    except StepFailed as exc:
        outcome.error = f"{exc.step} failed: {exc.message}"
    return outcome


def _turns_from_recording(call: Call, steps: dict[str, Any], sid: str) -> list[dict[str, Any]]:
    with step_run(steps, "load", call_sid=sid):
        recording = _recording_load(call)
    try:
        speaker_turns = _diarize(recording, steps, sid)
    except StepFailed:
        step_skip(steps, "transcribe", reason="not started: the speakers could not be told apart")
        raise
    with step_run(steps, "transcribe", call_sid=sid) as step:
        segments = _transcribe(step, recording, speaker_turns, call.agent_profile)
    with step_run(steps, "merge", call_sid=sid):
        return turns_merge(segments)


def _diarize(recording: Recording, steps: dict[str, Any], sid: str) -> list[diarization.SpeakerTurn]:
    with step_run(steps, "diarize", call_sid=sid) as step:
        if len(recording.channels) == 2:
            step.note("stereo recording: the channel is the speaker (left = Client, right = Bot)")
            return []
        diarization.diarization_check()
        turns = diarization.speaker_turns(samples=recording.channels[0], sample_rate=recording.sample_rate)
        step.note(f"mono recording: {len(turns)} speaker turns; the first speaker is the Bot")
        return turns


def _recording_load(call: Call) -> Recording:
    if not call.recording:
        when = f" (deleted {call.recording_deleted_at:%Y-%m-%d})" if call.recording_deleted_at else ""
        raise ProcessingError(f"the call has no recording{when}; set TRANSCRIPT_SOURCE=live to use the live one")
    try:
        with call.recording.open("rb") as handle:
            recording = recording_read(handle.read())
    except FileNotFoundError as exc:
        raise ProcessingError(f"the recording file {call.recording.name} is missing") from exc
    except RecordingError as exc:
        raise ProcessingError(f"the recording cannot be read: {exc}") from exc
    if len(recording.channels) not in (1, 2):
        raise ProcessingError(f"expected a mono or stereo recording, got {len(recording.channels)} channels")
    return recording


def _transcribe(
    step: Step, recording: Recording, speaker_turns: list[diarization.SpeakerTurn], profile: str,
) -> list[Segment]:
    prompt = transcription_prompt(step, profile)
    rate = recording.sample_rate
    if len(recording.channels) == 1:
        mixed = channel_transcribe(step, samples=recording.channels[0], sample_rate=rate, name="mono", prompt=prompt)
        return diarization.segments_label(mixed, speaker_turns)
    segments: list[Segment] = []
    for samples, speaker in zip(recording.channels, STEREO_SPEAKERS, strict=True):
        heard = channel_transcribe(step, samples=samples, sample_rate=rate, name=speaker.lower(), prompt=prompt)
        segments += [Segment(s.start, s.end, s.text, speaker) for s in heard]
    return segments


def _extract(outcome: Outcome, sid: str, profile: str) -> None:
    if not outcome.turns:
        step_skip(outcome.steps, "extract", reason=EMPTY_TRANSCRIPT)
        outcome.skipped = EMPTY_TRANSCRIPT
        return
    with step_run(outcome.steps, "extract", call_sid=sid) as step:
        outcome.data = data_extract(step, conversation=conversation_text(outcome.turns), profile=profile)
