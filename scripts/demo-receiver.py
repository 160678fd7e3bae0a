#!/usr/bin/python3
"""The demo's stand-in for the three authorities (municipality, police, Immigration Service):
an HTTPS server on 127.0.0.1 that takes rollcalld's signed webhooks at /municipality, /police
and /immigration, checks each signature (Standard Webhooks: HMAC-SHA256 over
"id.timestamp.body" with the authority's whsec_ secret), answers 204, prints one line per
notification and appends the whole request to a log, so the demo's notifications are
delivered, signed and visible. Demo only: it keeps nothing else and trusts nobody.

    demo-receiver.py PORT CERT KEY SECRETS_JSON LOG

SECRETS_JSON maps each authority kind to its secret (scripts/demo.sh writes it).
"""

import base64
import datetime
import hashlib
import hmac
import http.server
import json
import ssl
import sys


def signature_ok(secret, headers, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    sent = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split()
            if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, s) for s in sent)


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    port, cert, key, secrets_path, log_path = sys.argv[1:]
    with open(secrets_path, encoding="utf-8") as f:
        secrets = json.load(f)
    log = open(log_path, "a", encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            kind = self.path.strip("/")
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if kind not in secrets:
                self.send_response(404)
                self.end_headers()
                return
            ok = signature_ok(secrets[kind], self.headers, body)
            self.send_response(204 if ok else 401)
            self.end_headers()
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            who = (doc.get("resident") or {}).get("case_number", "")
            when = datetime.datetime.now().strftime("%H:%M:%S")
            print(f"demo-receiver {when}: {kind:<12} {doc.get('type', '?'):<24} {who:<15} "
                  f"signature {'ok' if ok else 'WRONG (401)'}", flush=True)
            log.write(json.dumps({"authority": kind, "headers": dict(self.headers),
                                  "body": doc, "signature_ok": ok}) + "\n")
            log.flush()

        def log_message(self, *args):
            pass  # one line per notification above is enough

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
