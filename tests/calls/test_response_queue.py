"""The relay's response queue on its own: one response in flight, the rest wait, the goodbye is tracked by id."""
from calls.live.relay.response_queue import ResponseQueue, ResponseRequest

OPENING = ResponseRequest("Saluda.")
PROMPT = ResponseRequest("¿Sigue ahí?")
GOODBYE = ResponseRequest("Despídete.", goodbye=True)


def test_a_request_goes_out_at_once_when_nothing_is_in_flight():
    queue = ResponseQueue()
    assert not queue.in_flight
    assert queue.request(OPENING) == OPENING
    assert queue.in_flight


def test_a_request_waits_for_the_response_in_flight_then_goes_out_when_it_is_done():
    queue = ResponseQueue()
    queue.request(OPENING)
    assert queue.request(PROMPT) is None
    queue.created("resp_1")
    assert queue.done("resp_1") == PROMPT
    assert queue.in_flight
    assert queue.done("resp_2") is None
    assert not queue.in_flight


def test_queued_requests_go_out_in_the_order_they_were_made():
    queue = ResponseQueue()
    queue.request(OPENING)
    queue.request(PROMPT)
    queue.request(GOODBYE)
    assert [queue.done("resp_1"), queue.done("resp_2"), queue.done("resp_3")] == [PROMPT, GOODBYE, None]


def test_a_response_the_server_started_on_its_own_holds_back_our_request():
    queue = ResponseQueue()
    queue.created("resp_vad")  # server VAD answered the callee
    assert queue.in_flight
    assert queue.request(PROMPT) is None
    assert queue.done("resp_vad") == PROMPT


def test_a_refused_request_is_sent_again_first_once_the_active_response_is_done():
    queue = ResponseQueue()
    queue.request(OPENING)
    queue.request(PROMPT)
    queue.refused()  # the opening met a VAD response already active
    queue.created("resp_vad")
    assert queue.done("resp_vad") == OPENING
    assert queue.done("resp_1") == PROMPT


def test_a_refusal_with_nothing_sent_changes_nothing():
    queue = ResponseQueue()
    queue.refused()
    assert not queue.in_flight
    assert queue.request(OPENING) == OPENING


def test_the_goodbye_is_the_first_response_created_after_its_request_went_out():
    queue = ResponseQueue()
    queue.request(OPENING)
    queue.created("resp_1")
    assert queue.request(GOODBYE) is None
    assert queue.done("resp_1") == GOODBYE
    assert not queue.goodbye_done  # resp_1 was the opening
    queue.created("resp_2")
    assert not queue.goodbye_done
    queue.done("resp_2")
    assert queue.goodbye_done


def test_a_response_done_that_is_not_the_goodbye_does_not_finish_it():
    queue = ResponseQueue()
    queue.request(GOODBYE)
    queue.created("resp_bye")
    queue.done("resp_other")
    assert not queue.goodbye_done
    queue.done("resp_bye")
    assert queue.goodbye_done


def test_a_refused_goodbye_waits_for_its_own_response_not_the_one_that_refused_it():
    queue = ResponseQueue()
    queue.request(GOODBYE)
    queue.created("resp_vad")  # taken for the goodbye until the refusal says otherwise
    queue.refused()
    assert queue.done("resp_vad") == GOODBYE
    assert not queue.goodbye_done
    queue.created("resp_bye")
    queue.done("resp_bye")
    assert queue.goodbye_done


def test_plain_requests_made_while_one_waits_share_it():
    queue = ResponseQueue()
    queue.request(ResponseRequest("opening"))
    assert queue.request(ResponseRequest(None)) is None
    assert queue.request(ResponseRequest(None)) is None  # a second tool answer or key: the waiting one covers it
    assert queue.request(ResponseRequest("wrap up")) is None
    assert queue.waiting == 2
    assert queue.done("resp_1") == ResponseRequest(None)
    assert queue.done("resp_2") == ResponseRequest("wrap up")


def test_a_waiting_request_can_be_withdrawn_but_not_one_already_sent():
    queue = ResponseQueue()
    sent = queue.request(ResponseRequest("opening"))
    filler = ResponseRequest("filler")
    queue.request(filler)
    assert queue.withdraw(filler) is True and queue.waiting == 0
    assert queue.withdraw(sent) is False
    assert queue.done("resp_1") is None
