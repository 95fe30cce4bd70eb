"""Domain errors of the calls app: raised by services and the Twilio client, mapped once per door."""


class CallError(Exception):
    """Base of every error a door may show to staff; `message` is written for them."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class CallRefused(CallError):
    """We will not dial this number: invalid, do-not-call, or rejected by the carrier before."""


class TwilioNotConfigured(CallError):
    """A Twilio setting is missing; raised when a call is placed, never at start-up."""


class TwilioError(CallError):
    """Twilio refused or could not be reached.

    `permanent` means retrying the same request cannot succeed (bad number, bad credentials); timeouts and 5xx are
    not permanent, so a task may retry them.
    """

    def __init__(self, message: str, *, code: int | None = None, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.status = status


class StreamTokenError(CallError):
    """A media stream presented a missing, unknown, expired or already used token."""


class CallWaitTimeout(CallError):
    """The call did not reach a final state in time."""
