"""orbitwire: the application, CLI, scheduler jobs, ingestion, curation and publisher."""

import os

# Opt in to python-telegram-bot's future behaviour (RetryAfter.retry_after as timedelta), which
# silences its deprecation warning on every flood wait. Must be set before telegram is imported.
os.environ.setdefault("PTB_TIMEDELTA", "1")
