"""The development PKI (scripts/pki.sh): a CA, the daemon's server certificate, a CRL, and
client certificates issued on demand."""

import shutil
from pathlib import Path

from .common import PKI_SH, run


class Pki:
    """A development CA in directory (created with `pki.sh init`)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        run([PKI_SH, "init", self.dir])
        self.ca = self.dir / "ca.crt"
        self.server_cert = self.dir / "server.crt"
        self.server_key = self.dir / "server.key"
        self.crl = self.dir / "crl.pem"
        self._issued = set()

    def client(self, cn):
        """(cert, key) paths for cn, issued the first time it is asked for."""
        if cn not in self._issued:
            run([PKI_SH, "client", self.dir, cn])
            self._issued.add(cn)
        return self.dir / "clients" / f"{cn}.crt", self.dir / "clients" / f"{cn}.key"

    def revoke(self, cn):
        """Revokes cn's certificate and rewrites crl.pem (the daemon needs SIGHUP to see it).
        Returns copies of the revoked (cert, key), since a later client(cn) issues anew."""
        cert, key = self.client(cn)
        keep = self.dir / "revoked"
        keep.mkdir(exist_ok=True)
        kept = (keep / f"{cn}.crt", keep / f"{cn}.key")
        shutil.copy(cert, kept[0])
        shutil.copy(key, kept[1])
        run([PKI_SH, "revoke", self.dir, cn])
        self._issued.discard(cn)
        return kept

    def other_ca(self, cn="admin"):
        """(cert, key) for cn from an unrelated CA."""
        run([PKI_SH, "other-ca", self.dir, cn])
        return self.dir / "other" / f"{cn}.crt", self.dir / "other" / f"{cn}.key"
