"""The API keys test gateways are configured with, as request headers."""

from __future__ import annotations

ALICE = {"X-API-Key": "alice-key-0123456789"}
BOB = {"X-API-Key": "bob-key-9876543210"}

USER_KEY = "user-key-0123456789"
ADMIN_KEY = "admin-key-9876543210"
USER = {"X-API-Key": USER_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}

UI_KEY = "ui-test-key-0123456789"
