"""The ASGI application Daphne serves: Django over HTTP, the Twilio media stream over websockets."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from calls.live.realtime_client import realtime_client_warm  # noqa: E402
from calls.live.routing import websocket_urlpatterns  # noqa: E402
from voicebot_site.autobahn_debug_args import install_plain_debug_args  # noqa: E402
from voicebot_site.body_limit import BodySizeLimit, install_daphne_body_limit  # noqa: E402

# Daphne reads a whole request body before it calls the application: its own request class must count it.
install_daphne_body_limit()
# autobahn formats its debug-log arguments on every websocket frame, debug logging or not.
install_plain_debug_args()
# The OpenAI client costs the event loop ~0.3 s to build: here, not in the first call's silence.
realtime_client_warm()

application = ProtocolTypeRouter(
    {
        # Static files (the admin's assets) are answered here, asynchronously, before any middleware: a sync
        # middleware such as WhiteNoise would pin a thread for every long-waiting async view (/make_call).
        "http": BodySizeLimit(ASGIStaticFilesHandler(django_asgi_app)),
        # Per route (calls.live.routing): Twilio's handshake has no Origin header nor cookie, the staff's has both.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
