"""A socket server on 127.0.0.1 that streams as fast as the kernel takes it (or paced)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def streaming_server(
    head: bytes,
    body_block: bytes,
    *,
    pace: float = 0.0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """Serve ``head`` then ``body_block`` over and over to each client until it goes away.

    With ``tls`` (a server context) the connection is TLS and the URL https.
    Bounded: each connection lasts at most 60 s, the server at most 600 s.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        if tls is not None:
            conn.settimeout(5)
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
        with conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            deadline = time.monotonic() + 60
            try:
                conn.sendall(head)
                if not body_block:  # the head says it all: wait for the client to close
                    conn.settimeout(60)
                    conn.recv(1)
                    return
                while not stop.is_set() and time.monotonic() < deadline:
                    conn.sendall(body_block)
                    if pace:
                        time.sleep(pace)
            except (OSError, ssl.SSLError):
                return  # the client went away

    def accept_loop() -> None:
        end = time.monotonic() + 600
        while not stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls is not None else 'http'}://127.0.0.1:{port}/"
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()
