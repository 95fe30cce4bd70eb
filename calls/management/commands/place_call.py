"""`manage.py place_call`: call a list of numbers from the command line (the prototype's console client).

A thin door: reading and checking the numbers, dialling and waiting live in calls.services.call_lists, the workbook in
calls.review.run_workbook; this module parses options, shows progress and results, and maps errors to exit codes.
"""
import argparse
import asyncio
import signal
from contextlib import suppress
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.utils import timezone

from calls import twilio_client
from calls.review.run_workbook import campaign_results_write
from calls.services.call_lists import (
    NOT_PLACED, REFUSED, Campaign, CampaignInputError, CampaignPlan, CallOutcome, campaign_plan,
)
from calls.exceptions import TwilioNotConfigured
from calls.review.exports import format_duration
from calls.models import CallStatus
from campaigns.command_run import campaign_for_command, campaign_run_until_settled
from campaigns.services import CampaignStateError, campaign_progress

EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 1, 2, 130
EPILOG = """\
examples:
  manage.py place_call 600123456 +34911222333
  manage.py place_call --file numbers.xlsx --concurrency 3 --cps 1
  manage.py place_call --file numbers.csv --dry-run

The file's first column holds the numbers, the second (optional) the names; a title row is detected. Invalid
numbers, repeats and do-not-call contacts are listed with their row and skipped. Each run writes
call_results/call_results_<date>-<time>.xlsx. Ctrl-C stops placing calls, hangs up the live ones and still
writes the workbook; a second Ctrl-C quits at once.

exit status:
  0    every call was placed and ended (busy, no-answer and canceled are outcomes, not failures)
  1    at least one call failed, could not be placed (Twilio refused it) or did not end within --timeout;
       with --unanswered-is-failure, busy and no-answer count as failed too
  2    the file could not be read, no valid number was given, or Twilio is not configured
  130  interrupted with Ctrl-C
"""
_STATUS_STYLES = {
    CallStatus.COMPLETED: "SUCCESS",
    CallStatus.BUSY: "WARNING",
    CallStatus.NO_ANSWER: "WARNING",
    CallStatus.CANCELED: "WARNING",
    NOT_PLACED: "WARNING",
    REFUSED: "WARNING",
}


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the epilog's line breaks kept."""


class Command(BaseCommand):
    help = "Call phone numbers (arguments or a spreadsheet), paced, and write a results workbook."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class, parser.epilog = _HelpFormatter, EPILOG
        return parser

    def add_arguments(self, parser) -> None:
        parser.add_argument("numbers", nargs="*", help="Phone numbers, in any usual format.")
        parser.add_argument("--file", type=Path, help="An .xlsx, .xls, .csv or .txt file of numbers.")
        parser.add_argument("--concurrency", type=int, default=1, help="Calls in flight at once (default 1).")
        parser.add_argument(
            "--cps", type=float, default=settings.CALLS_PER_SECOND,
            help=f"New calls started per second (default {settings.CALLS_PER_SECOND:g}, Twilio's default limit).",
        )
        parser.add_argument(
            "--timeout", type=float, default=settings.MAKE_CALL_TIMEOUT,
            help=f"Seconds to wait for each call to end before hanging it up (default {settings.MAKE_CALL_TIMEOUT}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check the numbers and show them; call nobody.")
        parser.add_argument("--results-dir", type=Path, default=Path("call_results"),
                            help="Where to write the results workbook (default ./call_results).")
        parser.add_argument("--unanswered-is-failure", action="store_true",
                            help="Exit with status 1 when a call was busy or not answered, too.")
        parser.add_argument(
            "--campaign", metavar="NAME",
            help="Run the numbers as the campaign NAME (README, \"Campaigns\"): made if new, with --concurrency and "
                 "--cps as its limits; without numbers, the existing NAME is started or resumed. Runs until every "
                 "contact is settled; Ctrl-C pauses it.")
        parser.add_argument("--attempts", type=int, default=3,
                            help="With --campaign: attempts per contact at most (default 3).")
        parser.add_argument("--any-time", action="store_true",
                            help="With --campaign: a new campaign may call at any hour of any day (default: its "
                                 "window, Mon-Fri 10:00-14:00 and 17:00-20:00 in the callee's own time).")

    def handle(self, *args, numbers: list[str], file: Path | None, concurrency: int, cps: float, timeout: float,
               dry_run: bool, results_dir: Path, unanswered_is_failure: bool, campaign: str | None, attempts: int,
               any_time: bool, **options) -> None:
        _check_options(numbers=numbers, file=file, concurrency=concurrency, cps=cps, timeout=timeout,
                       campaign=campaign)
        try:
            plan = campaign_plan(numbers=numbers, file_path=file)
        except CampaignInputError as exc:
            raise CommandError(str(exc), returncode=EXIT_INPUT) from None
        self._report_plan(plan)
        if campaign:
            return self._run_campaign(campaign, plan, concurrency=concurrency, cps=cps, attempts=attempts,
                                      any_time=any_time)
        if not plan.targets:
            raise CommandError("No number to call.", returncode=EXIT_INPUT)
        if dry_run:
            return self._report_dry_run(plan, concurrency=concurrency, cps=cps)
        try:
            twilio_client.twilio_settings()
        except TwilioNotConfigured as exc:
            raise CommandError(exc.message, returncode=EXIT_INPUT) from None
        started_at = timezone.localtime()
        progress = _Progress(self, total=len(plan.targets))
        self.campaign = Campaign(targets=plan.targets, concurrency=concurrency, calls_per_second=cps,
                                 timeout=timeout, listener=progress.update)
        try:
            outcomes = asyncio.run(self._run())
        except KeyboardInterrupt:
            raise CommandError("Interrupted twice: live calls may still be running.", returncode=EXIT_INTERRUPTED)
        progress.finish()
        self._print_table(outcomes)
        path = campaign_results_write(outcomes=outcomes, skipped=plan.skipped, directory=results_dir,
                                      started_at=started_at)
        self.stdout.write(f"Results: {path.resolve()}")
        self._exit(outcomes, unanswered_is_failure=unanswered_is_failure)

    async def _run(self) -> list[CallOutcome]:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._interrupt, loop)
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread (e.g. called from a test) or no signal support: cancel() still works
        try:
            return await self.campaign.run()
        finally:
            with suppress(ValueError, RuntimeError, NotImplementedError):
                loop.remove_signal_handler(signal.SIGINT)

    def _run_campaign(self, name: str, plan: CampaignPlan, *, concurrency: int, cps: float, attempts: int,
                      any_time: bool) -> None:
        try:
            twilio_client.twilio_settings()
            campaign = campaign_for_command(name=name, targets=plan.targets, concurrency=concurrency,
                                            calls_per_second=cps, attempts=attempts, any_time=any_time)
            self.stdout.write(f"Campaign {campaign} (#{campaign.pk}): {campaign.get_state_display().lower()}.")
            campaign = campaign_run_until_settled(campaign=campaign, report=self._campaign_progress)
        except (TwilioNotConfigured, CampaignStateError) as exc:
            raise CommandError(exc.message, returncode=EXIT_INPUT) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages), returncode=EXIT_INPUT) from None
        except KeyboardInterrupt:
            raise CommandError(f"Paused campaign {name}: the calls under way finish. Run the same command "
                               "without numbers to resume it.", returncode=EXIT_INTERRUPTED) from None
        outcomes = campaign_progress(campaign=campaign).by_outcome
        self.stdout.write(self.style.SUCCESS(f"Campaign {campaign} {campaign.get_state_display().lower()}: "
                                             + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))))

    def _campaign_progress(self, campaign, progress) -> None:
        line = (f"{progress.done}/{progress.total} settled, {progress.in_flight} in flight, "
                f"{progress.attempts} attempt(s)")
        if line != getattr(self, "_last_progress", ""):
            self._last_progress = line
            self.stdout.write(line)

    def _interrupt(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stderr.write("\nCancelling: no new calls; hanging up the live ones (Ctrl-C again to quit at once).")
        self.campaign.cancel()
        loop.remove_signal_handler(signal.SIGINT)  # the next Ctrl-C raises KeyboardInterrupt

    def _report_plan(self, plan: CampaignPlan) -> None:
        if plan.header_skipped:
            self.stdout.write("The file's first row is a title; it was skipped.")
        for entry in plan.skipped:
            self.stdout.write(self.style.WARNING(f"Skipped {entry.where} '{entry.input}': {entry.reason}."))
        total = len(plan.targets) + len(plan.skipped)
        self.stdout.write(f"{len(plan.targets)} of {total} number(s) to call, {len(plan.skipped)} skipped.")

    def _report_dry_run(self, plan: CampaignPlan, *, concurrency: int, cps: float) -> None:
        for target in plan.targets:
            self.stdout.write(f"  {target.where:>12}  {target.number:<16} {target.name}")
        minutes = (len(plan.targets) - 1) / cps / 60
        self.stdout.write(self.style.SUCCESS(
            f"Dry run: nobody was called. {len(plan.targets)} call(s), {concurrency} at a time, {cps:g} per second "
            f"(the last would start after at least {minutes:.1f} min)."
        ))

    def _print_table(self, outcomes: list[CallOutcome]) -> None:
        header = ["Row", "Number", "Name", "Status", "Duration", "Answered by", "End reason", "Extracted / error"]
        rows = [_table_row(outcome) for outcome in outcomes]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        self.stdout.write("  ".join(title.ljust(w) for title, w in zip(header, widths)).rstrip())
        for outcome, row in zip(outcomes, rows):
            cells = [str(cell).ljust(w) for cell, w in zip(row, widths)]
            cells[3] = getattr(self.style, _STATUS_STYLES.get(outcome.status, "ERROR"))(cells[3])
            self.stdout.write("  ".join(cells).rstrip())
        for outcome in outcomes:
            if outcome.failed() and outcome.error:  # the table cuts long messages; these say what to do
                self.stdout.write(self.style.ERROR(f"{outcome.target.where} {outcome.target.number}: {outcome.error}"))

    def _exit(self, outcomes: list[CallOutcome], *, unanswered_is_failure: bool) -> None:
        failed = sum(outcome.failed(unanswered_is_failure=unanswered_is_failure) for outcome in outcomes)
        if self.campaign.cancelled:
            raise CommandError(f"Cancelled; {failed} call(s) failed.", returncode=EXIT_INTERRUPTED)
        if failed:
            raise CommandError(f"{failed} of {len(outcomes)} call(s) failed.", returncode=EXIT_FAILED)
        self.stdout.write(self.style.SUCCESS(f"All {len(outcomes)} call(s) ended."))


def _check_options(*, numbers: list[str], file: Path | None, concurrency: int, cps: float, timeout: float,
                   campaign: str | None) -> None:
    problems = {
        "Give phone numbers or --file.": not numbers and file is None and not campaign,
        "--concurrency must be at least 1.": concurrency < 1,
        "--cps must be more than 0.": cps <= 0,
        "--timeout must be more than 0.": timeout <= 0,
    }
    for message, wrong in problems.items():
        if wrong:
            raise CommandError(message, returncode=EXIT_INPUT)


def _table_row(outcome: CallOutcome) -> list[str]:
    extracted = ", ".join(f"{key}={value}" for key, value in outcome.extracted.items() if value not in (None, ""))
    detail = outcome.error or extracted
    return [
        outcome.target.where, outcome.target.number, _short(outcome.target.name, 20), outcome.status,
        format_duration(outcome.duration) or "-", outcome.answered_by or "-", outcome.end_reason or "-",
        _short(detail, 60),
    ]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class _Progress:
    """A plain-text progress bar: redrawn in place on a terminal, one line per finished call in a log file."""

    WIDTH = 30

    def __init__(self, command: BaseCommand, *, total: int) -> None:
        self.command, self.total = command, total
        self.done = self.in_flight = self.failed = 0
        self.tty = command.stdout.isatty()

    def update(self, event: str, outcome: CallOutcome) -> None:
        if event == "placed":
            self.in_flight += 1
            if self.tty:
                self._draw(f"{outcome.target.number} dialling")
            else:
                self.command.stdout.write(f"Dialling {outcome.target.where} {outcome.target.number} ({outcome.sid})")
            return
        if event == "done" and outcome.call_id is not None:
            self.in_flight -= 1
        self.done += 1
        self.failed += outcome.failed()
        self._draw(f"{outcome.target.number} {outcome.status}")

    def finish(self) -> None:
        if self.tty:
            self.command.stdout.write("")

    def _draw(self, last: str) -> None:
        filled = self.WIDTH * self.done // max(1, self.total)
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total} done, "
                f"{self.in_flight} in flight, {self.failed} failed | {last}")
        if self.tty:
            self.command.stdout.write("\r" + line.ljust(100), ending="")
            self.command.stdout.flush()
        else:
            self.command.stdout.write(line)
