"""Compatibility names for the notification tests and older imports: the webhook receiver and
World are harness.webhooks' now, and the fixtures receiver_pki, receiver and world are in
conftest.py (re-exported here for modules that import them from this file)."""

from harness.webhooks import (  # noqa: F401
    AUTHORITIES,
    HANG_LIMIT,
    MODES,
    Request,
    WebhookReceiver,
    World,
    make_pki,
    new_secret,
    notify_config,
    sign,
    verify,
)

try:
    from conftest import receiver, receiver_pki, world  # noqa: F401  (fixtures)
except ImportError:  # outside pytest
    pass
