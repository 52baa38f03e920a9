"""Redis key layout. Every key of a virtual shard carries the hash tag ``{vN}`` so one Lua script
can write all of them atomically, on a single Redis or on Redis Cluster."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one deployment prefix (tests use a prefix of their own)."""

    prefix: str = "skusync"

    def tag(self, vshard: int) -> str:
        return f"{self.prefix}:{{v{vshard}}}"

    def owner(self, vshard: int) -> str:
        """Epoch token of the shard activation allowed to write this vshard (fencing)."""
        return f"{self.tag(vshard)}:owner"

    def stock(self, vshard: int) -> str:
        """Hash SKU -> ``on_hand:reserved:version``."""
        return f"{self.tag(vshard)}:stock"

    def audit(self, vshard: int) -> str:
        """Stream of decisions, one entry per decided line, field ``d`` holds JSON."""
        return f"{self.tag(vshard)}:audit"

    def idem_registry(self) -> str:
        """Hash of the live idempotency buckets (``engine.store.idem_layout``): field
        ``<ttl>:<bucket>`` = ``"<subs> <expiry>"``, and ``<ttl>:<bucket>:n`` = records written.

        Records are one per event, not per vshard: a key reused with another payload must be
        refused wherever the new payload lands, so every vshard must find the same record. (They
        carry no vshard's hash tag: the shard's scripts already span vshards, so one Redis, not
        Cluster.)
        """
        return f"{self.prefix}:idem"

    def idem_hash(self, ttl_s: int, bucket: int, sub: int) -> str:
        """One of a bucket's hashes of idempotency records (field: 10 digest bytes of the key)."""
        return f"{self.prefix}:idem:{ttl_s}:{bucket}:{sub:x}"

    def order_registry(self) -> str:
        """Hash of the live buckets of order records (``engine.store.order_records``), as
        ``idem_registry`` is for idempotency records, plus ``legacy``: until when records of the
        layout before (``order``) may still be read. No hash tag: one Redis, not Cluster."""
        return f"{self.prefix}:orders"

    def order_hash(self, window_s: int, bucket: int, sub: int) -> str:
        """One of a bucket's hashes of order records (field: order digest and vshard)."""
        return f"{self.prefix}:orders:{window_s}:{bucket}:{sub:x}"

    def order(self, vshard: int, channel: str, order_id: str) -> str:
        """The layout before ``order_hash``: this vshard's lines of an order as a key of its own.
        No longer written; read (``engine.store.order_records``) until such records expire."""
        return f"{self.tag(vshard)}:order:{channel}:{order_id}"

    def seen_registry(self) -> str:
        """Hash of the live buckets of order markers (``engine.store.order_windows``), as
        ``order_registry`` is for the records, plus ``legacy`` (until when ``seen`` is read)."""
        return f"{self.prefix}:seen"

    def seen(self, vshard: int, bucket: int) -> str:
        """The layout before ``seen_registry``: a hash of markers of orders whose records were
        written in time bucket ``bucket``, field = 8-byte digest of channel and order id. No longer
        written; read until they expire (``engine.store.order_windows``)."""
        return f"{self.tag(vshard)}:seen:{bucket}"

    def txn(self, txn_id: str) -> str:
        """Hash of an all-or-nothing order: request fingerprint, lines, decision, answer."""
        return f"{self.prefix}:txn:{txn_id}"

    def open_txns(self) -> str:
        """Sorted set of undecided all-or-nothing orders by the time their hold expires."""
        return f"{self.prefix}:txns"

    def epoch(self, shard: int) -> str:
        """Counter of activations of a physical shard."""
        return f"{self.prefix}:epoch:{shard}"

    def meta(self) -> str:
        """Deployment facts that must not change under existing data (vshard count)."""
        return f"{self.prefix}:meta"

    def channel_tag(self, channel_id: str) -> str:
        """Hash tag shared by one channel account's keys, so its Lua scripts work on Redis Cluster."""
        return f"{self.prefix}:{{ch:{channel_id}}}"

    def channel_pending(self, channel_id: str) -> str:
        """Hash SKU -> JSON target (``available``, ``version``, ``source``) not yet on the channel."""
        return f"{self.channel_tag(channel_id)}:pending"

    def channel_listed(self, channel_id: str) -> str:
        """Hash SKU -> JSON ``{version, available, listed, at}``: what the channel is known to list."""
        return f"{self.channel_tag(channel_id)}:listed"

    def channel_catalog(self, channel_id: str) -> str:
        """Hash SKU -> JSON channel ids from the last catalog import."""
        return f"{self.channel_tag(channel_id)}:catalog"

    def dlq(self) -> str:
        """Stream of dead-lettered channel updates, every channel's (field ``channel`` tells which)."""
        return f"{self.prefix}:dlq"
