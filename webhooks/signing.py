"""The signature each delivery carries, Stripe-style: `Voicebot-Signature: t=<unix seconds>,v1=<hex>` where hex is
HMAC-SHA256(secret, f"{t}.{body}"). README, "Webhooks out", has the receiver's side of it."""
import hashlib
import hmac

SIGNATURE_HEADER = "Voicebot-Signature"


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
