"""Domain errors of the calls app: raised by services and the Twilio client, mapped once per door."""
import enum


class CallError(Exception):
    """Base of every error a door may show to staff; `message` is written for them."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class CallRefused(CallError):
    """We will not dial this number: invalid, do-not-call, or rejected by the carrier before."""


class CallNotNow(CallRefused):
    """Not now, but maybe soon: the number is on another call already, or MAX_CONCURRENT_CALLS calls are live."""


class TwilioNotConfigured(CallError):
    """A Twilio setting is missing; raised when a call is placed, never at start-up."""


class TwilioProblem(enum.Enum):
    """What a Twilio error means for us; calls.twilio_client, the only reader of Twilio's codes, picks it."""

    INVALID_NUMBER = "invalid_number"  # the To number does not exist: never dial it again as it is
    NOT_FOUND = "not_found"  # Twilio has no such resource (a call SID it does not know)
    AUTH_FAILURE = "auth_failure"  # our credentials are wrong: our setup's fault, not the caller's
    CALL_NOT_LIVE = "call_not_live"  # the call to change has already ended
    OTHER = "other"


class TwilioError(CallError):
    """Twilio refused or could not be reached.

    `permanent` means retrying the same request cannot succeed (bad number, bad credentials); timeouts and 5xx are
    not permanent, so a task may retry them. Ask what it means through the `is_*` flags, not by Twilio's code.
    """

    def __init__(
        self, message: str, *, code: int | None = None, permanent: bool, status: int | None = None,
        problem: TwilioProblem = TwilioProblem.OTHER,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        self.status = status
        self.problem = problem

    @property
    def is_invalid_number(self) -> bool:
        return self.problem is TwilioProblem.INVALID_NUMBER

    @property
    def is_not_found(self) -> bool:
        return self.problem is TwilioProblem.NOT_FOUND

    @property
    def is_auth_failure(self) -> bool:
        return self.problem is TwilioProblem.AUTH_FAILURE

    @property
    def is_call_not_live(self) -> bool:
        return self.problem is TwilioProblem.CALL_NOT_LIVE


class StreamTokenError(CallError):
    """A media stream presented a missing, unknown, expired or already used token."""


class CallWaitTimeout(CallError):
    """The call did not reach a final state in time."""
