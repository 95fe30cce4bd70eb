"""End to end with a real django-q2 worker: `manage.py qcluster` picks the task from the ORM broker in a SQLite
file shared with this test, talks to the fake OpenAI over HTTP and writes the result on the call.

Black box: migrate, enqueue and the worker are separate processes of manage.py with their own settings from the
environment (SQLITE_PATH, MEDIA_ROOT, OPENAI_BASE_URL ...); the test reads the outcome from the database file.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.extraction.sounds import VOICES, call_wav
from simulator.openai_rest import TRANSCRIPTIONS, OpenAIRestFake
from simulator.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
ENQUEUE = """
from django.core.files.base import ContentFile
from calls.models import Call
from contacts.models import Contact
from extraction.services import process_call_enqueue
contact = Contact.objects.create(phone_number="+34600111222", name="Ana")
call = Call.objects.create(contact=contact, phone_number=contact.phone_number, twilio_sid="CAqcluster",
                           status="completed")
call.recording.save("CAqcluster.wav", ContentFile(open({wav!r}, "rb").read()), save=True)
process_call_enqueue(call=call)
print("enqueued", call.pk)
"""


def manage(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True, **kwargs)


def processed(db: Path) -> dict | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT processing, transcript, extracted_data, extraction_error FROM calls_call "
                           "WHERE twilio_sid = 'CAqcluster'").fetchone()
    if row and json.loads(row[0]).get("status") in ("done", "failed"):
        return {"processing": json.loads(row[0]), "transcript": json.loads(row[1]),
                "extracted_data": json.loads(row[2]), "extraction_error": row[3]}
    return None


@pytest.mark.slow
def test_a_real_qcluster_worker_processes_a_finished_call(tmp_path):
    with OpenAIRestFake(voices=dict(VOICES), chat_answer={"place": "Madrid", "budget": 1000}) as fake:
        fake.fail_next(TRANSCRIPTIONS, 1, status=503)  # the worker retries it
        env = {**os.environ, "SQLITE_PATH": str(tmp_path / "db.sqlite3"), "MEDIA_ROOT": str(tmp_path / "media"),
               "DATABASE_URL": "", "REDIS_URL": "", "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key,
               "PROCESSING_RETRY_BACKOFF": "0", "Q_WORKERS": "1", "TRANSCRIPT_SOURCE": "openai",
               "DJANGO_SETTINGS_MODULE": "voicebot_site.settings"}
        (tmp_path / "call.wav").write_bytes(call_wav())
        manage(env, "migrate", "--noinput")
        assert "enqueued" in manage(env, "shell", "-c", ENQUEUE.format(wav=str(tmp_path / "call.wav"))).stdout
        worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            result = wait_for(lambda: processed(tmp_path / "db.sqlite3"), timeout=90, interval=0.3,
                              what="the worker to finish the call")
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=30)[0]

    assert result["processing"]["status"] == "done", (result, output[-3000:])
    assert result["processing"]["steps"]["transcribe"]["attempts"] == 2
    assert [turn["speaker"] for turn in result["transcript"]] == ["Bot", "Client", "Bot", "Client"]
    assert result["extracted_data"] == {"place": "Madrid", "budget": 1000, "other_requirements": None}
    assert "Processed 'extraction.tasks.process_call'" in output
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        assert conn.execute("SELECT success, name FROM django_q_task").fetchall() == [(1, "process-call-1")]
