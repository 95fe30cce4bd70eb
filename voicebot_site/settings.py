"""voicebot settings: one module, every value read from the environment with decouple.

Every variable is listed with its default in `.env.example`, and a blank value (`SQLITE_PATH=`, as in a fresh copy of
that file) means the default. Integration credentials may be empty here so that `manage.py` and the tests run
without secrets; the clients check them when a call is placed.
"""
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from decouple import AutoConfig, Csv
from django.core.exceptions import ImproperlyConfigured

from voicebot_site.demo_mode import demo_addresses_check
from voicebot_site.secret_key import secret_key_read_or_create
from voicebot_site.web_processes import web_processes_count

BASE_DIR = Path(__file__).resolve().parent.parent
_environment = AutoConfig(search_path=str(BASE_DIR))  # the process environment, then BASE_DIR/.env


def config(name: str, default: Any, cast: Callable[[str], Any] | None = None) -> Any:
    """decouple's config(), except that a blank value means `default` (returned as written, not cast).

    decouple alone reads `SQLITE_PATH=` as the empty string and `PORT=` as a failed int(); a copied .env.example
    would then break the first `make run`.
    """
    if not _environment(name, default="").strip():
        return default
    return _environment(name) if cast is None else _environment(name, cast=cast)


# Core
DEBUG = config("DEBUG", default=True, cast=bool)
# Never a committed constant: django-q2 signs the task payloads it unpickles with this key. Unset in development, a
# random key is made on first start in SECRET_KEY_FILE (git-ignored, mode 0600) and shared by every process of this
# checkout. In production (DEBUG=False) it must be configured: several hosts must share it, so no local file will do.
SECRET_KEY = config("SECRET_KEY", default="")
SECRET_KEY_FILE = Path(config("SECRET_KEY_FILE", default=str(BASE_DIR / ".secret_key")))
ALLOWED_HOSTS = config("ALLOWED_HOSTS", default=[], cast=Csv())
if DEBUG:
    SECRET_KEY = SECRET_KEY or secret_key_read_or_create(SECRET_KEY_FILE)
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
elif not SECRET_KEY or not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DEBUG=False requires SECRET_KEY and ALLOWED_HOSTS to be set.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "import_export",
    "phonenumber_field",
    "contacts",
    "calls",
    "campaigns",
    "extraction",
    "webhooks",
    "voicebot_site",  # for its model of failed logins (login_limits.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "voicebot_site.urls"
ASGI_APPLICATION = "voicebot_site.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "voicebot_site.demo_mode.demo_mode",
            ],
        },
    },
]

# Database: SQLite by default; DATABASE_URL switches to PostgreSQL (or names SQLite: `sqlite:////path/db.sqlite3`).
# Under ASGI Django keeps a connection per thread, and threads come and go with requests: a connection kept past its
# request (CONN_MAX_AGE > 0) is never reused, only piles up until PostgreSQL refuses everyone. 0 closes each at the
# end of its request (Django's advice for ASGI); put a pooler such as PgBouncer in front if connecting costs too much.
DATABASE_URL = config("DATABASE_URL", default="")
DATABASE_CONN_MAX_AGE = config("DATABASE_CONN_MAX_AGE", default=0, cast=int)
SQLITE_ENGINE = "django.db.backends.sqlite3"
# Every SQLite database gets these, however it is named (SQLITE_PATH or a sqlite:// DATABASE_URL): WAL and a busy
# timeout let the web process and the worker write at once, and IMMEDIATE takes the write lock when a transaction
# starts, so two writers wait for each other instead of one failing with "database is locked" mid-transaction.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {"ENGINE": SQLITE_ENGINE, "NAME": config("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3"))}
    }
if DATABASES["default"]["ENGINE"] == SQLITE_ENGINE:
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Failed logins, counted in the database every process shares (voicebot_site.login_limits): after this many
# failures within LOGIN_FAILURE_WINDOW seconds, an account, or a client address, is refused without its password
# being checked until the oldest of them is that old. A successful login clears the account's count.
LOGIN_FAILURE_LIMIT = config("LOGIN_FAILURE_LIMIT", default=5, cast=int)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = config("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=20, cast=int)
LOGIN_FAILURE_WINDOW = config("LOGIN_FAILURE_WINDOW", default=900, cast=int)
# The client's address is REMOTE_ADDR unless this names the header your own proxy sets to it (e.g. X-Real-IP);
# never a header a client could set itself, so X-Forwarded-For is not trusted by default.
CLIENT_ADDRESS_HEADER = config("CLIENT_ADDRESS_HEADER", default="")
AUTHENTICATION_BACKENDS = ["voicebot_site.authentication.LoginLimitedBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The admin's language (our own strings: locale/; Django's and the libraries': theirs). One per deployment, from the
# environment, not per browser: staff of one call centre share one language.
LANGUAGES = [("en", "English"), ("es", "Español")]
LANGUAGE_CODES = ("en", "en-us", "es")
LANGUAGE_CODE = config("LANGUAGE_CODE", default="en-us").lower()
if LANGUAGE_CODE not in LANGUAGE_CODES:
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of {', '.join(LANGUAGE_CODES)} (English or Spanish), "
                               f"not {LANGUAGE_CODE!r}.")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = config("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = config("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Recordings live under MEDIA_ROOT and are only served through a staff-only view, never as public media.
MEDIA_ROOT = config("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "/media/"
# Recordings are personal data: files Django saves (uploaded recordings) are private to the service's user, as are
# the folders it makes for them (the live recorder's files get the same modes from calls.services.recordings).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Uploads: spreadsheets are read in memory up to this size; anything bigger is refused with a clear error.
IMPORT_MAX_BYTES = config("IMPORT_MAX_BYTES", default=20 * 1024 * 1024, cast=int)
IMPORT_MAX_ROWS = config("IMPORT_MAX_ROWS", default=200_000, cast=int)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Security (production: DEBUG=False behind an https proxy)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = config("CSRF_TRUSTED_ORIGINS", default=[], cast=Csv())
if not DEBUG:
    SECURE_SSL_REDIRECT = config("SECURE_SSL_REDIRECT", default=True, cast=bool)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = config("SECURE_HSTS_SECONDS", default=31536000, cast=int)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# Redis (optional): switches the Channels layer and the django-q2 broker. REDIS_PREFIX names this deployment's
# keys (and its django-q2 cluster), so several deployments or test runs can share one Redis without clashing.
REDIS_URL = config("REDIS_URL", default="")
REDIS_PREFIX = config("REDIS_PREFIX", default="voicebot")

# The cache (the API's throttle histories) must be one every process shares, never the per-process default whose
# limits each process would count on its own: Redis when configured, otherwise files in CACHE_DIR, which the
# processes of one host share (without Redis a deployment is one host). Not the database: a write on every API
# request would compete with the calls' writes on SQLite.
CACHE_DIR = config("CACHE_DIR", default=str(BASE_DIR / ".django_cache"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
else:
    # A folder only voicebot's user can read or write (0700, files 0600): the files are unpickled.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": CACHE_DIR,
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

# Channels
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_PREFIX}:asgi"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# django-q2: always the ORM broker, Redis or not. It leases each task (locked for `retry` seconds) and deletes it only
# once done, so a worker killed mid-task (deploy, OOM, crash) hands it to the next worker after `retry`; the Redis
# broker pops the task on pick-up, and a killed worker loses it without a trace. Redis stays the channel layer.
# retry must exceed every task's timeout, or a slow task runs twice at once (a batch would dial contacts twice):
# calls.checks refuses to start otherwise.
Q_CLUSTER = {
    "name": REDIS_PREFIX,
    "workers": config("Q_WORKERS", default=2, cast=int),
    "timeout": config("Q_TIMEOUT", default=1800, cast=int),
    "retry": config("Q_RETRY", default=1900, cast=int),
    "max_attempts": 3,
    "catch_up": False,
    "label": "Background tasks",
}
Q_CLUSTER["orm"] = "default"

# REST API: staff only, session or token, throttled.
REST_FRAMEWORK = {
    # Token first: a request without credentials then gets 401 + `WWW-Authenticate: Token`, not a bare 403.
    # Wrong tokens count as failed logins of the client's address; the last class throttles requests that carried
    # no credentials at all (the anon rate), before the permission check refuses them.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "voicebot_site.authentication.LoginLimitedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "voicebot_site.authentication.AnonymousRequestsThrottled",
    ],
    # Staff with the permissions each view declares per method (voicebot_site/permissions.py; README, "Roles").
    "DEFAULT_PERMISSION_CLASSES": ["voicebot_site.permissions.DeclaredPermissions"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": config("API_THROTTLE_ANON", default="30/minute"),
        "user": config("API_THROTTLE_USER", default="1000/minute"),
    },
    # Anonymous requests are told apart by address (CLIENT_ADDRESS_HEADER), never by a client's X-Forwarded-For.
    "NUM_PROXIES": 0,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "voicebot_site.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "voicebot API",
    "DESCRIPTION": "Contacts, calls and call history. Every route needs a staff user (session or token).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    # Served from our own static files: the docs page works with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"CallStatusEnum": "calls.models.CallStatus", "EndReasonEnum": "calls.models.EndReason",
                            "CampaignStateEnum": "campaigns.models.CampaignState",
                            "CampaignContactStateEnum": "campaigns.models.ContactState"},
}

# Webhooks out (README, "Webhooks out"): seconds a receiver gets per attempt (the worker sends, never a call), and
# seconds after an event during which failed deliveries are retried with exponential backoff.
WEBHOOK_TIMEOUT = config("WEBHOOK_TIMEOUT", default=10.0, cast=float)
WEBHOOK_RETRY_FOR = config("WEBHOOK_RETRY_FOR", default=86400, cast=int)
# Endpoints on loopback, RFC 1918 or unique-local addresses (the deployment's own network) are refused unless true.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = config("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False, cast=bool)
# Days a finished (delivered or given-up) delivery stays in the log; 0 keeps them forever. Purged daily.
WEBHOOK_DELIVERY_RETENTION_DAYS = config("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30, cast=int)
if WEBHOOK_DELIVERY_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("WEBHOOK_DELIVERY_RETENTION_DAYS must be 0 (keep forever) or more days.")

# Contacts
DEFAULT_PHONE_REGION = config("DEFAULT_PHONE_REGION", default="ES")
# Countries (ISO codes) we may call; blank: only DEFAULT_PHONE_REGION's; `*`: any. Premium-rate and shared-cost
# numbers are never called, whatever the country.
ALLOWED_CALL_COUNTRIES = [
    code.upper() for code in config("ALLOWED_CALL_COUNTRIES", default=[DEFAULT_PHONE_REGION], cast=Csv())
]
# django-phonenumber-field (Contact.phone_number): the same region, numbers stored and shown as E.164 text.
PHONENUMBER_DEFAULT_REGION = DEFAULT_PHONE_REGION
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"

# Twilio
TWILIO_ACCOUNT_SID = config("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = config("TWILIO_AUTH_TOKEN", default="")
PHONE_NUMBER_FROM = config("PHONE_NUMBER_FROM", default="")
TWILIO_API_BASE_URL = config("TWILIO_API_BASE_URL", default="https://api.twilio.com")
PUBLIC_BASE_URL = config("PUBLIC_BASE_URL", default="")
if PUBLIC_BASE_URL:
    # Twilio (and staff, through a tunnel) arrive under this host: accept it without listing it twice.
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, urlsplit(PUBLIC_BASE_URL).hostname]
    CSRF_TRUSTED_ORIGINS = [*CSRF_TRUSTED_ORIGINS, "{0.scheme}://{0.netloc}".format(urlsplit(PUBLIC_BASE_URL))]
NGROK_TOKEN = config("NGROK_TOKEN", default="")
CALL_DURATION_LIMIT = config("CALL_DURATION_LIMIT", default=120, cast=int)
MAKE_CALL_TIMEOUT = config("MAKE_CALL_TIMEOUT", default=600, cast=int)
# Each waiting /make_call keeps a (sleeping) thread of its web process; beyond this many, new ones get 503.
MAKE_CALL_MAX_WAITERS = config("MAKE_CALL_MAX_WAITERS", default=100, cast=int)
TWILIO_HTTP_TIMEOUT = config("TWILIO_HTTP_TIMEOUT", default=15.0, cast=float)
RING_TIMEOUT = config("RING_TIMEOUT", default=30, cast=int)
# Twilio's own TimeLimit = CALL_DURATION_LIMIT + this grace (room for the goodbye); no TimeLimit when the limit is 0.
CALL_TIME_LIMIT_GRACE = config("CALL_TIME_LIMIT_GRACE", default=30, cast=int)
# Answering-machine detection: off | Enable | DetectMessageEnd; on a machine, hangup | voicemail (say the message).
AMD_MODE = config("AMD_MODE", default="off")
AMD_ACTION = config("AMD_ACTION", default="hangup")
# With AMD on: `wait` keeps the bot quiet until detection says human; `at_once` greets and stops on a machine.
AMD_GREETING = config("AMD_GREETING", default="wait")
# With `wait`: seconds without a verdict after which the bot greets anyway (as if detection said unknown).
AMD_WAIT_SECONDS = config("AMD_WAIT_SECONDS", default=6.0, cast=float)
# Post-call transcription and extraction of calls answered by a machine: skip | process.
VOICEMAIL_PROCESSING = config("VOICEMAIL_PROCESSING", default="skip")
# transfer_call: seconds the person's phone rings before the callee hears the fallback line.
TRANSFER_DIAL_TIMEOUT = config("TRANSFER_DIAL_TIMEOUT", default=25, cast=int)
TWILIO_SAY_LANGUAGE = config("TWILIO_SAY_LANGUAGE", default="es-ES")
STREAM_TOKEN_TTL = config("STREAM_TOKEN_TTL", default=600, cast=int)
# Seconds a media-stream socket may stay open without Twilio's `start` frame before we close it.
STREAM_START_TIMEOUT = config("STREAM_START_TIMEOUT", default=5.0, cast=float)
# Calls still not final this many seconds after creation are settled from Twilio's records.
CALL_STALE_AFTER = config("CALL_STALE_AFTER", default=900, cast=int)
# A status or AMD callback whose database write fails (locked, unreachable) is retried for up to this many seconds
# within its request; then it is kept in WEBHOOK_SPOOL_DIR (one private file each) and the worker applies it later.
WEBHOOK_DB_RETRY_SECONDS = config("WEBHOOK_DB_RETRY_SECONDS", default=5.0, cast=float)
WEBHOOK_SPOOL_DIR = config("WEBHOOK_SPOOL_DIR", default=str(BASE_DIR / "var" / "webhook_spool"))
# Pacing of `manage.py place_call --cps`, and of all campaigns together: Twilio's default limit is 1 per second.
CALLS_PER_SECOND = config("CALLS_PER_SECOND", default=1.0, cast=float)
# Calls not yet final at once, from every door (API, admin, command, campaigns); 0 = no limit.
MAX_CONCURRENT_CALLS = config("MAX_CONCURRENT_CALLS", default=0, cast=int)
# Campaigns: a contact refused for now (its number on another call, MAX_CONCURRENT_CALLS reached) is tried again
# after this; a claim that has dialled nobody after this is put back (it must outlast a dial's wait for Twilio).
CAMPAIGN_NOT_NOW_SECONDS = config("CAMPAIGN_NOT_NOW_SECONDS", default=60, cast=int)
CAMPAIGN_CLAIM_STALE_SECONDS = config("CAMPAIGN_CLAIM_STALE_SECONDS", default=120, cast=int)
if CAMPAIGN_NOT_NOW_SECONDS < 1:
    raise ImproperlyConfigured("CAMPAIGN_NOT_NOW_SECONDS must be at least 1.")
if CAMPAIGN_CLAIM_STALE_SECONDS < 4 * TWILIO_HTTP_TIMEOUT:
    raise ImproperlyConfigured(f"CAMPAIGN_CLAIM_STALE_SECONDS must be at least 4 x TWILIO_HTTP_TIMEOUT "
                               f"({4 * TWILIO_HTTP_TIMEOUT:g} s): a dial may wait that long for Twilio.")

# The live call (relay): the bot's files, its timers and the optional input gain
AI_CONFIG_DIR = config("AI_CONFIG_DIR", default=str(BASE_DIR / "AI"))
CALL_WRAP_UP_GRACE = config("CALL_WRAP_UP_GRACE", default=15, cast=int)
SILENCE_TIMEOUT = config("SILENCE_TIMEOUT", default=12, cast=int)
GOODBYE_MARK_CAP = config("GOODBYE_MARK_CAP", default=10, cast=int)
INPUT_GAIN_DB = config("INPUT_GAIN_DB", default=None, cast=float)
# The key that signs each request of an HTTP tool (AI/tools/tools.yaml `http:`) to the business's endpoint, which
# checks it (README "Tools that call your systems"). Unset: HTTP tools answer the model an error and send nothing.
TOOLS_SIGNING_SECRET = config("TOOLS_SIGNING_SECRET", default="")

# OpenAI
OPENAI_API_KEY = config("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = config("OPENAI_BASE_URL", default="https://api.openai.com/v1")
OPENAI_REALTIME_BASE_URL = config("OPENAI_REALTIME_BASE_URL", default="")
OPENAI_REALTIME_MODEL = config("OPENAI_REALTIME_MODEL", default="gpt-realtime-mini")
OPENAI_AUDIO_VOICE = config("OPENAI_AUDIO_VOICE", default="coral")
OPENAI_STT_MODEL = config("OPENAI_STT_MODEL", default="whisper-1")
OPENAI_TEXT_MODEL = config("OPENAI_TEXT_MODEL", default="gpt-4o-mini")
# The calls' language (ISO-639-1) for speech-to-text, or "auto": it detects the language of each call.
MODEL_LANGUAGE = config("MODEL_LANGUAGE", default="es")
if MODEL_LANGUAGE != "auto" and not (len(MODEL_LANGUAGE) == 2 and MODEL_LANGUAGE.isascii() and MODEL_LANGUAGE.islower()):
    raise ImproperlyConfigured(f"MODEL_LANGUAGE must be a two-letter ISO-639-1 code (es, en) or auto, not {MODEL_LANGUAGE!r}.")
TRANSCRIPTION_LANGUAGE = "" if MODEL_LANGUAGE == "auto" else MODEL_LANGUAGE  # "": not sent, so it is detected

# Demo mode (`make demo` turns it on): Twilio and OpenAI are the built-in simulator, every page shows a banner, and
# the product refuses to start when a provider address is not on this machine (voicebot_site/demo_mode.py).
DEMO_MODE = config("DEMO_MODE", default=False, cast=bool)
# Where `make demo` keeps its own database, recordings and files, never the ones `make run` uses.
DEMO_DIR = Path(config("DEMO_DIR", default=str(BASE_DIR / "tmp" / "demo")))
if DEMO_MODE:
    demo_addresses_check({"TWILIO_API_BASE_URL": TWILIO_API_BASE_URL, "OPENAI_BASE_URL": OPENAI_BASE_URL,
                          "OPENAI_REALTIME_BASE_URL": OPENAI_REALTIME_BASE_URL or OPENAI_BASE_URL})

# Cost per call (calls/pricing.py holds the providers' list prices, dated): JSON merged over them model by model,
# first from PRICES_FILE, then from PRICES.
PRICES = config("PRICES", default="")
PRICES_FILE = config("PRICES_FILE", default="")

# The opening line, rendered once per text and voice with this speech model and played the moment the stream starts
# (calls.opening_audio); off: the live model says it, after its session has opened.
OPENING_CACHE = config("OPENING_CACHE", default=True, cast=bool)
OPENAI_TTS_MODEL = config("OPENAI_TTS_MODEL", default="gpt-4o-mini-tts")

# Post-call processing (extraction.tasks.process_call)
# openai: transcribe the recording's channels; live: use the transcript heard during the call (no STT cost).
TRANSCRIPT_SOURCE = config("TRANSCRIPT_SOURCE", default="openai")
if TRANSCRIPT_SOURCE not in ("openai", "live"):
    raise ImproperlyConfigured("TRANSCRIPT_SOURCE must be 'openai' or 'live'.")
# A channel bigger than this is split on silence before upload (OpenAI refuses files over 25 MB).
TRANSCRIPTION_MAX_UPLOAD_BYTES = config("TRANSCRIPTION_MAX_UPLOAD_BYTES", default=24 * 1024 * 1024, cast=int)
OPENAI_REQUEST_TIMEOUT = config("OPENAI_REQUEST_TIMEOUT", default=120.0, cast=float)
# Tries per OpenAI request on timeouts, connection errors, 429 and 5xx; waits BACKOFF seconds, doubled each retry.
PROCESSING_MAX_ATTEMPTS = config("PROCESSING_MAX_ATTEMPTS", default=4, cast=int)
PROCESSING_RETRY_BACKOFF = config("PROCESSING_RETRY_BACKOFF", default=2.0, cast=float)
# Dotted path to the Pydantic model of the fields to extract.
EXTRACTION_SCHEMA = config("EXTRACTION_SCHEMA", default="extraction.schemas.ClientInfoExtraction")
# Mono recordings only (ours are stereo): pyannote (optional extra, scripts/install_diarization.sh) or none.
DIARIZATION_BACKEND = config("DIARIZATION_BACKEND", default="pyannote")
DIARIZATION_PIPELINE = config("DIARIZATION_PIPELINE", default="pyannote/speaker-diarization-community-1")
HUGGINGFACE_TOKEN = config("HUGGINGFACE_TOKEN", default="")
# Days to keep recording files (transcripts and data stay); 0 keeps them forever.
RECORDING_RETENTION_DAYS = config("RECORDING_RETENTION_DAYS", default=0, cast=int)
# Recordings staff upload in the admin (mp3, m4a, ogg, webm, any WAV), converted to our WAV by pydub and ffmpeg:
# the largest file, the longest recording, and how long ffmpeg may take before it is stopped (seconds).
RECORDING_UPLOAD_MAX_BYTES = config("RECORDING_UPLOAD_MAX_BYTES", default=200 * 1024 * 1024, cast=int)
RECORDING_UPLOAD_MAX_SECONDS = config("RECORDING_UPLOAD_MAX_SECONDS", default=3600, cast=int)
RECORDING_CONVERT_TIMEOUT = config("RECORDING_CONVERT_TIMEOUT", default=120, cast=int)
# Any request body over this is refused (413) as it arrives, before it is buffered (voicebot_site/body_limit.py);
# by default just above the largest import file and the largest recording upload, so neither is cut short.
MAX_REQUEST_BODY_BYTES = config(
    "MAX_REQUEST_BODY_BYTES", default=max(IMPORT_MAX_BYTES, RECORDING_UPLOAD_MAX_BYTES) + 1024 * 1024, cast=int
)

# Server
PORT = config("PORT", default=6060, cast=int)
HOST = config("HOST", default="127.0.0.1")
# Daphne processes `manage.py serve` (`make run`) starts on that one port: `auto` is one per usable core, at most 8.
try:
    WEB_PROCESSES = web_processes_count(config("WEB_PROCESSES", default="auto"))
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from None

LOG_LEVEL = config("LOG_LEVEL", default="INFO")
# Every line goes through one handler whose filter removes secrets (configured credentials, Authorization headers,
# Bearer tokens), at any level, from any library. websockets' DEBUG lines are its handshakes, headers included
# (the OpenAI key): it never logs below WARNING.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"secrets_redacted": {"()": "voicebot_site.log_safety.SecretsRedacted"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets_redacted"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"level": "INFO"}, "daphne": {"level": "WARNING"}, "websockets": {"level": "WARNING"}},
}
