"""django-q2 entry point of webhooks out: ids in, one service out."""
import logging

from webhooks import services
from webhooks.models import Delivery

log = logging.getLogger(__name__)


def delivery_send(delivery_id: int) -> str:
    """One attempt at a delivery (the first, or a retry a Schedule made); returns its status."""
    delivery = Delivery.objects.select_related("endpoint", "call").filter(pk=delivery_id).first()
    if delivery is None:
        log.warning("webhook delivery %s no longer exists", delivery_id)
        return "missing"
    return services.delivery_send(delivery=delivery).status


def deliveries_purge() -> int:
    """Scheduled daily by `setup_schedules`: delete finished deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS."""
    return services.deliveries_purge()
