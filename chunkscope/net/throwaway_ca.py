"""Throwaway certificate authorities (trustme) for TLS servers on loopback.

A throwaway CA lives in memory. Only when a client needs it as a file
(``curl --cacert``) is its certificate written, into a temporary folder of
its own that :meth:`TlsPair.close` removes -- servers started by
:mod:`chunkscope.net.replay` and the CLI close their pair when they stop, and
a pair nobody closed removes its folder when it is garbage-collected or the
interpreter exits. Nothing is left in the temp folder.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import weakref
from typing import Any

__all__ = ["TlsPair", "tls_pair"]


class TlsPair:
    """A throwaway CA and the matching server and client SSL contexts.

    ``ca_pem`` is the path of the CA certificate, for clients that want a
    file; it is written on first use (into ``directory`` if given, else a
    temporary folder removed by :meth:`close`). Use as a context manager, or
    call :meth:`close`, when the server it serves stops.
    """

    def __init__(
        self,
        ca: Any,  # trustme.CA
        server_context: ssl.SSLContext,
        client_context: ssl.SSLContext,
        ca_pem: str | None = None,
        *,
        directory: str | None = None,
    ) -> None:
        self.ca = ca
        self.server_context = server_context
        self.client_context = client_context
        self._ca_pem = ca_pem
        self._directory = directory
        self._owned: str | None = None  # a temporary folder this pair made
        self._cleanup: weakref.finalize[Any, Any] | None = None

    @property
    def ca_pem(self) -> str:
        """The CA certificate as a PEM file (written on first use)."""
        if self._ca_pem is None:
            directory = self._directory
            if directory is None:
                directory = self._owned = tempfile.mkdtemp(prefix="chunkscope-ca-")
                self._cleanup = weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)
            path = os.path.join(directory, "chunkscope-ca.pem")
            self.ca.cert_pem.write_to_path(path)
            self._ca_pem = path
        return self._ca_pem

    @property
    def ca_pem_written(self) -> bool:
        """Whether :attr:`ca_pem` has been written (and so may need removing)."""
        return self._ca_pem is not None

    def close(self) -> None:
        """Remove the temporary folder holding :attr:`ca_pem`, if this pair made one."""
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None
            self._owned = None
            self._ca_pem = None

    def __enter__(self) -> TlsPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tls_pair(
    directory: str | None = None, hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsPair:
    """Make a throwaway CA (trustme) with a server certificate for ``hostnames``.

    Example::

        with tls_pair() as pair:
            ...  # serve with pair.server_context; clients trust pair.client_context
                 # or the file pair.ca_pem, removed when the block ends
    """
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*hostnames)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    server.set_alpn_protocols(["http/1.1"])
    client = ssl.create_default_context()
    ca.configure_trust(client)
    client.set_alpn_protocols(["http/1.1"])
    return TlsPair(ca, server, client, directory=directory)
