"""What the calls app tells others without knowing them (campaigns listen): sent inside the transaction that
made the call final, so a listener's writes commit or roll back with the call's final state."""
from django.dispatch import Signal

# Sent with call=<Call> once, when a call reaches a final status (callback, reconciliation, failure, cancel).
call_final = Signal()

# Sent with call=<Call> when post-call processing has finished (done or failed) and stored its transcript and
# extracted data, inside the transaction that stored them.
call_processed = Signal()
