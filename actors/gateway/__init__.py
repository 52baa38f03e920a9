"""The HTTP gateway: marketplace webhooks and the admin API, fed to the shard actors in micro-batches."""

from actors.gateway.app import create_app

__all__ = ["create_app"]
