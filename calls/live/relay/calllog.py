"""A logger adapter that puts the call SID on every line the relay writes (never audio, never secrets)."""
from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class CallLogger(logging.LoggerAdapter):
    """Prefixes messages with `[call_sid]` and passes it in `extra` for structured handlers."""

    def __init__(self, logger: logging.Logger, call_sid: str = "-") -> None:
        super().__init__(logger, {"call_sid": call_sid})

    @property
    def call_sid(self) -> str:
        return str(self.extra["call_sid"]) if self.extra else "-"

    @call_sid.setter
    def call_sid(self, value: str) -> None:
        self.extra = {"call_sid": value}

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**kwargs.get("extra", {}), "call_sid": self.call_sid}
        return f"[{self.call_sid}] {msg}", kwargs
