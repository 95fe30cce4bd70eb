"""The call's clocks: goodbye cap, duration limit (wrap-up, then a hard stop), callee silence, and how long the
bot waits for answering-machine detection's verdict before greeting anyway.

Pure bookkeeping on the call clock (milliseconds since the stream started); the relay sleeps until
`next_deadline_ms()` (or its tick, if sooner), asks `due(now_ms)` and carries out what comes back. No sleeping here,
so tests drive it with a fake clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Due(Enum):
    AMD_WAIT_OVER = "amd_wait_over"  # no answering-machine verdict in time: greet as if detection said `unknown`
    HANG_UP_GOODBYE = "hang_up_goodbye"  # the goodbye's mark never came back: hang up anyway
    WRAP_UP = "wrap_up"  # duration limit reached: ask the bot to wrap up
    HARD_STOP = "hard_stop"  # limit + grace: hang up whatever the model does
    SILENCE_PROMPT = "silence_prompt"  # the callee has been quiet: ask if they are there
    SILENCE_END = "silence_end"  # still quiet after the prompt: say goodbye


@dataclass(frozen=True)
class Ending:
    """A goodbye in progress: hang up once its audio has played, or at `deadline_ms`."""

    reason: str
    deadline_ms: float
    tool_reason: str | None = None  # the model's, when it ended the call with `end_call`


class CallTimers:
    def __init__(self, *, duration_limit_s: float, grace_s: float, silence_timeout_s: float,
                 amd_wait_s: float = 0.0) -> None:
        self._amd_wait_ms = amd_wait_s * 1000  # 0: no verdict awaited (or it came)
        self._limit_ms = duration_limit_s * 1000
        self._grace_ms = grace_s * 1000
        self._silence_ms = silence_timeout_s * 1000
        self._wrapped_up = False
        self._silence_prompted = False
        self._quiet_since_ms = 0.0
        self.ending: Ending | None = None

    @property
    def wrapped_up(self) -> bool:
        return self._wrapped_up

    def activity(self, now_ms: float) -> None:
        """Someone spoke (or the bot finished speaking): the silence clock restarts."""
        self._quiet_since_ms = max(self._quiet_since_ms, now_ms)

    def callee_spoke(self, now_ms: float) -> None:
        self._silence_prompted = False
        self.activity(now_ms)

    def amd_verdict(self) -> None:
        """Answering-machine detection answered: its wait is over."""
        self._amd_wait_ms = 0.0

    def next_deadline_ms(self) -> float:
        """The earliest call-clock time at which `due` may have something to say (inf: nothing pending). Silence is
        due then only if the conversation is idle; a deadline already past is for the caller to recheck later."""
        deadlines = [self._amd_wait_ms] if self._amd_wait_ms else []
        if self.ending is not None:
            deadlines.append(self.ending.deadline_ms)
        if self._limit_ms:
            deadlines.append(self._limit_ms + self._grace_ms if self._wrapped_up else self._limit_ms)
        if self.ending is None and self._silence_ms:
            deadlines.append(self._quiet_since_ms + self._silence_ms)
        return min(deadlines, default=math.inf)

    def due(self, now_ms: float, *, conversation_idle: bool) -> Due | None:
        """What must happen now, if anything. Each answer is given once."""
        if self._amd_wait_ms and now_ms >= self._amd_wait_ms:
            self._amd_wait_ms = 0.0
            return Due.AMD_WAIT_OVER
        if self.ending is not None:
            if now_ms >= self.ending.deadline_ms:
                return Due.HANG_UP_GOODBYE
        if self._limit_ms and now_ms >= self._limit_ms + self._grace_ms:
            return Due.HARD_STOP
        if self._limit_ms and not self._wrapped_up and now_ms >= self._limit_ms:
            self._wrapped_up = True
            return Due.WRAP_UP
        if self.ending is None and self._silence_ms and conversation_idle:
            return self._silence_due(now_ms)
        return None

    def _silence_due(self, now_ms: float) -> Due | None:
        if now_ms - self._quiet_since_ms < self._silence_ms:
            return None
        self._quiet_since_ms = now_ms
        if self._silence_prompted:
            return Due.SILENCE_END
        self._silence_prompted = True
        return Due.SILENCE_PROMPT
