"""Throwaway certificate authorities (trustme) for TLS servers on loopback."""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

__all__ = ["TlsPair", "tls_pair"]


@dataclass
class TlsPair:
    """A throwaway CA and the matching server and client SSL contexts."""

    ca: Any  # trustme.CA
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext
    ca_pem: str  # path of the CA certificate, for clients that want a file (curl --cacert)


def tls_pair(
    directory: str | None = None, hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsPair:
    """Make a throwaway CA (trustme) with a server certificate for ``hostnames``."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*hostnames)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    server.set_alpn_protocols(["http/1.1"])
    client = ssl.create_default_context()
    ca.configure_trust(client)
    client.set_alpn_protocols(["http/1.1"])
    directory = directory or tempfile.mkdtemp(prefix="chunkscope-ca-")
    ca_pem = os.path.join(directory, "chunkscope-ca.pem")
    ca.cert_pem.write_to_path(ca_pem)
    return TlsPair(ca, server, client, ca_pem)
