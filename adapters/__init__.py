"""Marketplace adapters: one module per kind (inbound verify + normalise, outbound requests, simulator)."""
