"""TwiML as Twilio reads it: the fake Twilio refuses a document it would refuse (Twilio's error 12100 "Document
parse failure" or the verb's own error), so a wrong verb, attribute or value fails a test, not a live call.

Checked: the XML; `<Response>` at the root; only known verbs; `<Say>` has text and a `language` like es-ES;
`<Hangup/>` is empty; `<Dial>` has only known attributes, an integer `timeout` of 5-600 s, an absolute `action` URL,
GET/POST `method`, an E.164 `callerId`, and 1-10 `<Number>` nouns, each an E.164 number with an optional absolute
`url` (its whisper) and GET/POST `method`. The TwiML of a `<Number url>` (a whisper) may only say or play.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
VERBS = frozenset({"Say", "Play", "Pause", "Hangup", "Dial", "Connect", "Redirect", "Reject", "Gather", "Record"})
WHISPER_VERBS = frozenset({"Say", "Play", "Pause"})
DIAL_ATTRIBUTES = frozenset({"action", "method", "timeout", "callerId", "answerOnBridge", "timeLimit", "record",
                             "hangupOnStar", "ringTone"})
NUMBER_ATTRIBUTES = frozenset({"url", "method", "sendDigits", "statusCallback", "statusCallbackEvent",
                               "statusCallbackMethod"})


class TwimlRefused(ValueError):
    """What Twilio would say about the document."""


@dataclass(frozen=True)
class DialRequest:
    """A `<Dial><Number>` as Twilio would run it."""

    number: str
    timeout: int
    action_url: str
    whisper_url: str
    caller_id: str


def twiml_check(text: str, *, verbs: frozenset[str] = VERBS) -> ET.Element:
    """The parsed `<Response>`, or TwimlRefused saying what Twilio would refuse."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TwimlRefused(f"Document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwimlRefused(f"the root element must be <Response>, not <{root.tag}>")
    for verb in root:
        if verb.tag not in verbs:
            raise TwimlRefused(f"<{verb.tag}> is not allowed here (allowed: {', '.join(sorted(verbs))})")
        {"Say": _say, "Hangup": _hangup, "Dial": _dial}.get(verb.tag, lambda _: None)(verb)
    return root


def dial_of(root: ET.Element) -> DialRequest | None:
    """The `<Dial>` of a checked document, if it has one."""
    dial = root.find("Dial")
    if dial is None:
        return None
    number = dial.find("Number")
    return DialRequest(number=(number.text or "").strip(), timeout=int(dial.get("timeout", "30")),
                       action_url=dial.get("action", ""), whisper_url=number.get("url", ""),
                       caller_id=dial.get("callerId", ""))


def _say(verb: ET.Element) -> None:
    if not (verb.text or "").strip() or len(verb):
        raise TwimlRefused("<Say> needs text and no nested elements here")
    if "language" in verb.attrib and not LANGUAGE.match(verb.get("language")):
        raise TwimlRefused(f"<Say language> {verb.get('language')!r} is not a language like es-ES")


def _hangup(verb: ET.Element) -> None:
    if len(verb) or (verb.text or "").strip() or verb.attrib:
        raise TwimlRefused("<Hangup> takes no attributes nor content")


def _absolute(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TwimlRefused(f"{what} must be an absolute http(s) URL, got {url!r}")


def _method(element: ET.Element, what: str) -> None:
    if element.get("method", "POST") not in ("GET", "POST"):
        raise TwimlRefused(f"{what} method must be GET or POST")


def _dial(verb: ET.Element) -> None:
    unknown = set(verb.attrib) - DIAL_ATTRIBUTES
    if unknown:
        raise TwimlRefused(f"<Dial> has unknown attributes {sorted(unknown)}")
    timeout = verb.get("timeout", "30")
    if not timeout.isdigit() or not 5 <= int(timeout) <= 600:
        raise TwimlRefused(f"<Dial timeout> must be 5-600 seconds, got {timeout!r}")
    if "action" in verb.attrib:
        _absolute(verb.get("action"), "<Dial action>")
    _method(verb, "<Dial>")
    if "callerId" in verb.attrib and not E164.match(verb.get("callerId")):
        raise TwimlRefused(f"<Dial callerId> must be E.164, got {verb.get('callerId')!r}")
    numbers = verb.findall("Number")
    if not 1 <= len(numbers) <= 10 or len(numbers) != len(verb):
        raise TwimlRefused("<Dial> here needs 1 to 10 <Number> nouns and nothing else")
    for number in numbers:
        if not E164.match((number.text or "").strip()):
            raise TwimlRefused(f"<Number> must be E.164, got {number.text!r}")
        unknown = set(number.attrib) - NUMBER_ATTRIBUTES
        if unknown:
            raise TwimlRefused(f"<Number> has unknown attributes {sorted(unknown)}")
        if "url" in number.attrib:
            _absolute(number.get("url"), "<Number url>")
        _method(number, "<Number>")
