"""A real SMTP relay on loopback for the on-call e-mail tests (aiosmtpd, Debian's
python3-aiosmtpd), run in a thread: it captures every message it accepts, can offer STARTTLS
(with the receivers' own test certificate) or require it, and can refuse messages (a 5xx at the
end of DATA) until told otherwise.

    relay = SmtpRelay(tls_dir=receiver_pki)      # STARTTLS offered; SmtpRelay() plain
    relay.refuse = 554                           # refuse with 554 from now on
    relay.wait_for(lambda msgs: len(msgs) >= 1)  # -> [Message]
"""

import email
import email.policy
import ssl
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from .common import free_port


class Message:
    """One accepted message."""

    def __init__(self, envelope, starttls):
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.data = envelope.original_content or envelope.content
        self.tls = starttls  # was the session upgraded with STARTTLS?
        self.parsed = email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def message_id(self):
        return self.parsed["Message-ID"]

    @property
    def subject(self):
        return str(self.parsed["Subject"])

    @property
    def text(self):
        return self.parsed.get_content()

    @property
    def event_type(self):
        return self.parsed["X-Rollcall-Event"]

    def __repr__(self):
        return f"<mail {self.message_id} {self.subject!r}>"


class _Handler:
    def __init__(self, relay):
        self.relay = relay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = Message(envelope, session.ssl is not None)
        with self.relay._lock:
            refuse = self.relay.refuse
            (self.relay._refused if refuse else self.relay._messages).append(message)
        if refuse:
            return f"{refuse} 5.7.1 message refused by the test relay"
        return "250 OK: queued"


class SmtpRelay:
    """The relay; .host_port is what smtp_relay names. Thread-safe."""

    def __init__(self, tls_dir=None, require_starttls=False, host="127.0.0.1", port=None):
        self.host = host
        self.port = port or free_port(host)
        self.refuse = None      # a 5xx code to refuse every message with (after DATA), or None
        self._messages = []
        self._refused = []
        self._lock = threading.Lock()
        context = None
        if tls_dir is not None:
            tls_dir = Path(tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls_dir / "server.crt"), str(tls_dir / "server.key"))
        self.tls = context is not None
        tls = {"tls_context": context, "require_starttls": require_starttls} if context else {}
        self._controller = Controller(_Handler(self), hostname=host, port=self.port,
                                      ready_timeout=10, **tls)
        self._controller.start()

    @property
    def host_port(self):
        return f"{self.host}:{self.port}"

    def close(self):
        self._controller.stop()

    def messages(self):
        """The messages accepted."""
        with self._lock:
            return list(self._messages)

    def refused(self):
        """The messages refused (their whole content had arrived)."""
        with self._lock:
            return list(self._refused)

    def wait_for(self, predicate, timeout=20.0, what="the expected messages"):
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if predicate(msgs):
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; received: {msgs}")
            time.sleep(0.02)


__all__ = ["Message", "SmtpRelay", "SMTP"]
