"""Flipkart's strict simulator, its conformance driver and demo accounts."""
