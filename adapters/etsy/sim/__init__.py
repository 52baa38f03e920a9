"""Etsy simulator, its conformance driver and demo account."""
