"""The shard link's handshake: the peer proves it holds the activation's token without sending it.

Client: ``HELLO``; shard: a fresh 32-byte random challenge; client: ``HMAC-SHA256(token, HELLO +
challenge)``; the shard compares in constant time and closes the connection on a mismatch. The
token never crosses the wire, and a recorded answer is worth nothing on another connection, whose
challenge differs. The client speaks first so that a stranger learns nothing (not even a
challenge) from a connection it opens without the protocol's greeting, and the shard gives the
whole exchange ``HANDSHAKE_TIMEOUT_S``: a peer that connects and stays silent holds a socket for
that long at most, never memory beyond ``MAX_HANDSHAKE_FRAME``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import struct

HELLO = b"skusync-link/1"
HANDSHAKE_TIMEOUT_S = 5.0
"""From connect to a verified answer; a local handshake takes well under a millisecond, a
cross-node one a few round trips."""
MAX_HANDSHAKE_FRAME = 64
"""Before it has proved itself, a peer may send frames no larger than this."""
_LEN = struct.Struct(">I")


class LinkRefused(ConnectionError):
    """The peer did not greet as a link client or did not prove that it holds the token."""


def proof(token: bytes, challenge: bytes) -> bytes:
    """What a holder of ``token`` answers to ``challenge``."""
    return hmac.new(token, HELLO + challenge, hashlib.sha256).digest()


async def _small_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = _LEN.unpack(await reader.readexactly(4))
    if size > MAX_HANDSHAKE_FRAME:
        raise LinkRefused(f"a {size}-byte frame before the handshake")
    return await reader.readexactly(size)


async def accept(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: bytes, timeout_s: float
) -> None:
    """The shard's side: returns once the peer has proved it holds ``token``; else raises
    ``LinkRefused``, ``TimeoutError`` or ``IncompleteReadError`` (the caller closes the connection)."""

    async def exchange() -> None:
        if await _small_frame(reader) != HELLO:
            raise LinkRefused("not a link client")
        challenge = secrets.token_bytes(32)
        writer.write(_LEN.pack(len(challenge)) + challenge)
        if not hmac.compare_digest(await _small_frame(reader), proof(token, challenge)):
            raise LinkRefused("wrong token")

    await asyncio.wait_for(exchange(), timeout_s)


async def greet(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: bytes, timeout_s: float
) -> None:
    """The client's side: greet, read the challenge, answer it (the shard says nothing on success)."""
    writer.write(_LEN.pack(len(HELLO)) + HELLO)
    challenge = await asyncio.wait_for(_small_frame(reader), timeout_s)
    answer = proof(token, challenge)
    writer.write(_LEN.pack(len(answer)) + answer)
