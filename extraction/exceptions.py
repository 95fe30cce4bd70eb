"""Domain errors of post-call processing."""


class ProcessingError(Exception):
    """A step could not finish. `permanent` errors are not retried (bad request, bad input, refusal)."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class RecordingRejected(Exception):
    """An uploaded file cannot be used as a call recording; the message says what to upload instead."""
