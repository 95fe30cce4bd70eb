"""What the campaigns app tells others without knowing them (webhooks listen): sent inside the transaction that
changed the campaign's state."""
from django.dispatch import Signal

# Sent with campaign=<Campaign> once, when a running campaign becomes completed (every contact done).
campaign_completed = Signal()
