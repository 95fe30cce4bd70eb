"""`manage.py render_openings`: render every agent profile's opening line in the bot's voice, ahead of the calls.

A line already rendered (same text, voice and speech model) is left alone; a line with `{variables}` cannot be cached
and is skipped. Run it after editing an opening line or changing the voice; otherwise the first call of each profile
queues the render itself (and says the line live meanwhile).
"""
from django.core.management.base import BaseCommand, CommandError

from calls.opening_audio import opening_audio_render_profile, opening_profiles


class Command(BaseCommand):
    help = "Render the opening line of AI/ and of every agent profile through OpenAI's speech endpoint (cached)."

    def handle(self, *args, **options) -> None:
        failed = 0
        for profile in opening_profiles():
            name = profile or "(default)"
            try:
                path = opening_audio_render_profile(profile)
            except Exception as exc:  # a broken profile, the service refusing: one profile's trouble must not hide the others'
                failed += 1
                self.stderr.write(f"{name}: {type(exc).__name__}: {exc}")
                continue
            self.stdout.write(f"{name}: {path or 'not cacheable (variables, or OPENING_CACHE off)'}")
        if failed:
            raise CommandError(f"{failed} opening line(s) could not be rendered")
