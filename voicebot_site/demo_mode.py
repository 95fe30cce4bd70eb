"""Demo mode (`make demo`): calls go to the built-in simulator (simulator/) on this machine, never to Twilio or
OpenAI, and every page says so.

In demo mode the provider addresses must be loopback ones (the simulator's), so that a real .env, with real keys,
cannot run as a demo; the simulator, for its part, refuses to start outside demo mode (simulator/__main__.py).
"""
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def demo_addresses_check(addresses: dict[str, str]) -> None:
    """Raise ImproperlyConfigured naming each of `addresses` (setting name -> URL) that is not on this machine."""
    outside = [f"{name}={url or '(blank)'}" for name, url in addresses.items()
               if urlsplit(url).hostname not in LOOPBACK_HOSTS]
    if outside:
        raise ImproperlyConfigured(
            "DEMO_MODE is on, so Twilio and OpenAI must be the simulator on this machine (make demo sets them), "
            f"but {', '.join(outside)}. Run `make demo` for the demo, or turn DEMO_MODE off to use real accounts.")


def demo_mode(request: HttpRequest) -> dict[str, bool]:
    """Template context: `demo_mode`, for the banner every page shows in demo mode."""
    return {"demo_mode": settings.DEMO_MODE}
