"""Dashboard speed: the admin home's render time with N calls in PostgreSQL.

Usage: .venv/bin/python bench/dashboard_bench.py [--calls 1000000] [--database postgres://postgres@127.0.0.1:5432/test]
Creates its own database next to the one named (voicebot_dashbench_<pid>, dropped at the end), migrates it and
bulk-inserts N calls placed evenly over the last 365 days, oldest first (a tenth in 5 campaigns; most answered, with durations, costs and
extracted data), then prints for each period the median of 3 renders of the admin home (dashboard included) and its
number of queries, against a reference measured in the same run: the calls list's first page (what staff opened
before the dashboard existed; it counts every call for its paginator).
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    import psycopg

    name = f"voicebot_dashbench_{os.getpid()}"
    with psycopg.connect(args.database, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _setup_django(urlunsplit(urlsplit(args.database)._replace(path=f"/{name}")))
        _run(calls=args.calls)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(args.database, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _setup_django(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "voicebot_site.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _insert(calls: int) -> float:
    """1,000 contacts, 5 campaigns and N calls, each table in one INSERT ... SELECT."""
    from django.db import connection

    started = time.perf_counter()
    _insert_rows("contacts_contact", 1000, {"phone_number": "'+3460' || lpad(i::text, 7, '0')",
                                            "name": "'Contact ' || i"})
    _insert_rows("campaigns_campaign", 5, {"name": "'Campaign ' || i"})
    answered = "i % 8 < 4"
    _insert_rows("calls_call", calls, {
        "code": "gen_random_uuid()", "contact_id": "1 + i % 1000",
        "phone_number": "'+3460' || lpad((i % 1000)::text, 7, '0')", "twilio_sid": "'CA' || lpad(i::text, 32, '0')",
        "status": "(ARRAY['completed','completed','completed','completed','no-answer','busy','failed',"
                  "'canceled'])[1 + i % 8]",
        # In the order they were placed, as a real table fills up: the last year, evenly, the newest last.
        "created_at": f"now() - ({calls} - i) * interval '365 days' / {calls}",
        "answered_at": f"CASE WHEN {answered} THEN now() - ({calls} - i) * interval '365 days' / {calls} END",
        "duration": f"CASE WHEN {answered} THEN (i * 37) % 420 END",
        "campaign_id": "CASE WHEN i % 10 = 0 THEN 1 + (i / 10) % 5 END",
        "cost_total": f"CASE WHEN {answered} THEN ((i * 37) % 420) * 0.0007 END",
        "extracted_data": f"CASE WHEN {answered} THEN jsonb_build_object('place', CASE WHEN i % 3 > 0 THEN "
                          "'Madrid' END, 'budget', CASE WHEN i % 5 > 1 THEN 900 END, 'other_requirements', NULL) "
                          "ELSE '{}'::jsonb END",
        "status_sequence": "-1", "live_transcript": "'[]'::jsonb", "transcript": "'[]'::jsonb",
    })
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


NEUTRAL = {"jsonb": "'{}'::jsonb", "boolean": "false", "integer": "0", "smallint": "0", "bigint": "0",
           "double precision": "0", "numeric": "0", "uuid": "gen_random_uuid()", "timestamp with time zone": "now()",
           "date": "current_date", "time without time zone": "'00:00'"}


def _insert_rows(table: str, rows: int, values: dict[str, str]) -> None:
    """Rows i = 1..rows; a required column not in `values` (Django keeps defaults out of the database, and other
    work adds columns) gets a neutral value of its type."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s AND "
                       "is_nullable = 'NO' AND column_default IS NULL AND column_name != 'id'", [table])
        for column, kind in cursor.fetchall():
            values.setdefault(column, NEUTRAL.get(kind, "''"))
        columns = ", ".join(connection.ops.quote_name(column) for column in values)  # "window" is a keyword
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {', '.join(values.values())} "
                       f"FROM generate_series(1, {int(rows)}) AS i")


def _median_render(client, url: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm: templates, connection, caches
    times = []
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times), len(queries)


def _run(*, calls: int) -> None:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    settings.ALLOWED_HOSTS = ["testserver"]
    seconds = _insert(calls)
    print(f"inserted {calls:,} calls in {seconds:.1f} s")
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "bench@example.com", "bench-password"))
    reference, reference_queries = _median_render(client, "/admin/calls/call/")
    print(f"reference: calls list, first page      {reference * 1000:8.0f} ms  {reference_queries:3d} queries")
    for label, query in (("today", "?period=today"), ("7 days", "?period=7d"), ("30 days", "?period=30d"),
                         ("30 days, one campaign", "?period=30d&campaign=1")):
        took, queries = _median_render(client, f"/admin/{query}")
        print(f"admin home, {label:26s} {took * 1000:8.0f} ms  {queries:3d} queries  "
              f"{took / reference:5.2f}x the calls list")


if __name__ == "__main__":
    main()
