"""Raw-socket helpers for tests that talk HTTP the way hostile or broken senders do."""

from __future__ import annotations

import socket


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset after its answer counts as closing)."""
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return out


def status(answer: bytes) -> int:
    """The status code of a raw HTTP/1.1 answer (0 if there was none)."""
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
