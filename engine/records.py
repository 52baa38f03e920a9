"""Per-SKU stock record and its compact storage encoding."""

from __future__ import annotations


class SkuRecord:
    """Master stock of one SKU.

    ``available`` is derived (``on_hand - reserved``), never stored, so a later reservation or
    multi-location model cannot drift from it. ``version`` increases by one per change.
    """

    __slots__ = ("on_hand", "reserved", "version")

    def __init__(self, on_hand: int = 0, reserved: int = 0, version: int = 0) -> None:
        self.on_hand = on_hand
        self.reserved = reserved
        self.version = version

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def copy(self) -> SkuRecord:
        return SkuRecord(self.on_hand, self.reserved, self.version)

    def encode(self) -> str:
        """Storage form ``on_hand:reserved:version`` (about 10 bytes, parsed without JSON)."""
        return f"{self.on_hand}:{self.reserved}:{self.version}"

    @classmethod
    def decode(cls, raw: str | bytes) -> SkuRecord:
        if isinstance(raw, bytes):
            raw = raw.decode()
        on_hand, reserved, version = raw.split(":")
        return cls(int(on_hand), int(reserved), int(version))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SkuRecord):
            return NotImplemented
        return (self.on_hand, self.reserved, self.version) == (other.on_hand, other.reserved, other.version)

    def __repr__(self) -> str:
        return f"SkuRecord(on_hand={self.on_hand}, reserved={self.reserved}, version={self.version})"
