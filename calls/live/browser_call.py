"""`/ws/try/<call code>`: a staff member talking to the bot from the browser ("Try this script"), no phone.

The page plays Twilio's part: it sends Twilio Media Streams frames exactly as Twilio does (`connected`, `start`
with the test call's stream token, 20 ms mu-law `media`, each `mark` back once its audio played, `stop`) and
honours `clear`, so the same consumer runs the same relay, session configuration, tools and end-of-call logic as
a phone call. What differs is only what Twilio did:
- the handshake: the admin's session (AuthMiddlewareStack, behind the Origin check) of active staff allowed to
  place and view calls, and the very user who started this test call (`calls.services.test_calls`);
- the hang-up: once the goodbye has played the socket is closed (no Twilio REST), and the call is recorded as
  ended here (`call_test_finish`: completed, duration, call_final, then processing like a phone call);
- staff's "Hang up" on the live call page reaches it through the call's live feed (`call_test_hang_up_publish`);
- the apology: a text frame `{"event": "apology", "text": ...}` for the page to show, instead of Twilio's <Say>.
"""
import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async

from calls.live.consumer import MediaStreamConsumer
from calls.models import Call, CallEvent, EndReason
from calls.services.status import call_test_finish

logger = logging.getLogger(__name__)

PERMISSIONS = ("calls.place_call", "calls.view_call")


def _may_talk(user: Any, call_code: str) -> bool:
    """Active staff with PERMISSIONS, on a test call of theirs that has not ended."""
    if not (user is not None and user.is_authenticated and user.is_active and user.is_staff
            and user.has_perms(PERMISSIONS)):
        return False
    call = Call.objects.filter(code=call_code, is_test=True).only("status").first()
    return call is not None and not call.is_final and CallEvent.objects.filter(
        call=call, kind=CallEvent.Kind.STATUS, detail__source="browser", detail__user=user.get_username()).exists()


class BrowserCallConsumer(MediaStreamConsumer):
    detects_answering_machines = False

    async def _handshake_allowed(self) -> bool:
        if await database_sync_to_async(_may_talk)(self.scope.get("user"), self.call_code):
            return True
        logger.warning("Test call socket refused call=%s: not signed in, not allowed, or not this user's call",
                       self.call_code)
        return False

    async def _start(self, frame: Any, *, received_at: float) -> None:
        await super()._start(frame, received_at=received_at)
        if self.relay is not None:  # staff's "Hang up" on the call's live page (calls.services.call_hang_up)
            self.monitor.on_hang_up = self._staff_hang_up

    async def _staff_hang_up(self) -> None:
        await self.relay.hang_up(EndReason.STAFF_HANGUP)

    async def _hang_up(self, reason: str) -> None:
        # The relay asks once the goodbye has played (or its cap passed): the browser has nothing more to hear.
        logger.info("Test call hanging up call=%s reason=%s", self.call_code, reason)
        self.tasks.append(asyncio.create_task(self.close()))

    async def _apologise(self) -> None:
        text = getattr(self, "apology", None) or "Sorry, the bot cannot talk right now."
        await self.send_json({"event": "apology", "text": text})

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)  # the relay's end and every event it reported are saved by now
        if self.call is not None:
            try:
                await database_sync_to_async(call_test_finish)(call_id=self.call.pk)
            except Exception:
                logger.exception("Could not record the end of test call=%s", self.call_code)
