"""How late `POST /make_call` answers after its call ends, when Twilio's callbacks land on its own web process or
on another one of `manage.py serve --no-worker --web-processes 2`.

    .venv/bin/python bench/make_call_wake.py --calls 10              # the embedded default: in-memory layer
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/make_call_wake.py --calls 10   # Redis layer

For each call, /make_call is sent on a connection that process A accepted (which process holds which connection
is read from /proc), FakeTwilio dials, and the call's four status callbacks are sent on a connection accepted by A
itself (the reference) or by the other process B, in turn. The delay is from the final callback's answer to
/make_call's answer. Across processes the in-memory channel layer cannot wake the waiter: it learns of the end
from its own re-read of the database (every RECHECK_SECONDS); Redis wakes it at once.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.twilio import FakeTwilio  # noqa: E402
from simulator.polling import wait_for  # noqa: E402
from tests.processes import Stack, connection_accepted_by, json_request, serving_pids  # noqa: E402

PUBLIC_BASE_URL = "https://voicebot.example"


def one_call(stack: Stack, twilio: FakeTwilio, port: int, pids: list[int], number: str, *, same: bool) -> float:
    """Seconds from the final callback's answer to /make_call's, the callbacks on the waiter's process or not."""
    waiter, waiter_pid = connection_accepted_by(port, pids, wanted=lambda pid: True)
    answered: dict = {}

    def make_call() -> None:
        _, answered["body"] = json_request(waiter, "POST", "/make_call", token=stack.token,
                                           body={"phone_number": number})
        answered["at"] = time.monotonic()

    waiting = threading.Thread(target=make_call)
    waiting.start()
    sent = wait_for(lambda: twilio.calls and twilio.last_call.to == number and twilio.last_call, timeout=30,
                    what=f"the call to {number}")
    # The waiter is subscribed and waiting (it subscribes before its first read); the call then ends at any point of
    # its 2 s between re-reads, not always the same one.
    time.sleep(random.uniform(0.3, 2.3))
    callbacks, _ = connection_accepted_by(port, pids, wanted=lambda pid: (pid == waiter_pid) is same)
    for hook in twilio.status_callbacks(sent.sid, ["initiated", "ringing", "in-progress", "completed"], duration=5):
        assert hook.post_on(callbacks) == 200
    ended = time.monotonic()
    waiting.join(timeout=60)
    waiter.close()
    callbacks.close()
    assert answered["body"]["call_status"] == "completed", answered
    return answered["at"] - ended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="calls per case (same process, other process)")
    args = parser.parse_args()
    delays: dict[bool, list[float]] = {True: [], False: []}
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio:
        tmp = Path(tempfile.mkdtemp(prefix="make-call-wake-"))
        stack = Stack(tmp, extra_env={
            **twilio.voicebot_env(), "MAKE_CALL_TIMEOUT": "60", "LOG_LEVEL": "WARNING"})
        try:
            stack.prepare()
            port, serve = stack.start_serve("--no-worker", "--web-processes", "2")
            pids = serving_pids(port, serve, 2)
            for n in range(args.calls * 2):
                same = n % 2 == 0
                delays[same].append(one_call(stack, twilio, port, pids, f"+3460{1_000_000 + n}", same=same))
        finally:
            stack.stop_all()
            shutil.rmtree(tmp, ignore_errors=True)
    layer = "Redis" if stack.env.get("REDIS_URL") else "in-memory"
    print(f"/make_call's answer after the call's final callback, {layer} channel layer, {args.calls} calls each, s:")
    for same, label in ((True, "callbacks on the waiter's process"), (False, "callbacks on the other process")):
        ordered = sorted(delays[same])
        print(f"  {label:<34} p50 {ordered[len(ordered) // 2]:6.3f}  max {ordered[-1]:6.3f}  "
              f"mean {sum(ordered) / len(ordered):6.3f}")


if __name__ == "__main__":
    main()
