"""Background entry point (django-q2), scheduled every minute by `setup_schedules`."""
from campaigns import scheduler


def campaigns_run() -> int:
    """Scheduler passes every second for 55 s: claim due contacts of running campaigns and dial them, paced."""
    return scheduler.campaigns_run()
