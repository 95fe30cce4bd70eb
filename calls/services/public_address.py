"""Where Twilio reaches this server: PUBLIC_BASE_URL, or else an ngrok tunnel that `manage.py serve` opens.

Twilio posts status callbacks to, and opens the media stream at, a public https/wss address. In production that is
PUBLIC_BASE_URL (a domain behind a proxy). On a laptop, as in the prototype, NGROK_TOKEN lets `serve` open a tunnel
at start-up and hand its URL to the processes it starts; nothing else (workers, `place_call`) opens a tunnel.
The processes behind a tunnel never run with DEBUG on (see `tunnelled_environment`).
"""
import logging
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)

# (local address "host:port", ngrok auth token) -> the tunnel's public https URL
TunnelOpener = Callable[[str, str], str]


def ngrok_open(address: str, token: str) -> str:
    """Open an ngrok tunnel to `address`; it lives as long as this process."""
    import ngrok  # imported only when a tunnel is wanted: most deployments never need it

    return ngrok.forward(address, authtoken=token).url()


def tunnelled_environment(*, url: str) -> dict[str, str]:
    """What the processes serving the tunnel at `url` add to their environment. Writes nothing.

    The tunnel's URL becomes their PUBLIC_BASE_URL. A tunnel puts the server on the internet, where DEBUG's pages
    (every route on a 404; settings, DATABASE_URL and REDIS_URL on a 500) must never be shown: with DEBUG on they
    start with DEBUG=False, plus what DEBUG=False needs on a laptop: this checkout's key and local host names, and
    no https redirect for the local http address.
    """
    environment = {"PUBLIC_BASE_URL": url}
    if settings.DEBUG:
        environment |= {
            "DEBUG": "False",
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": ",".join(settings.ALLOWED_HOSTS),
            "SECURE_SSL_REDIRECT": "False",
        }
    return environment


def public_base_url_resolve(*, host: str, port: int, opener: TunnelOpener = ngrok_open) -> tuple[str, bool]:
    """(public base URL, whether a tunnel was opened for it); ("", False) when Twilio has no way to reach us.

    Opens a tunnel (through `opener`) only when PUBLIC_BASE_URL is empty and NGROK_TOKEN is set. Writes nothing.
    """
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/"), False
    if not settings.NGROK_TOKEN:
        return "", False
    local = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    url = opener(f"{local}:{port}", settings.NGROK_TOKEN).rstrip("/")
    logger.info("ngrok tunnel %s -> %s:%s", url, local, port)
    return url, True
