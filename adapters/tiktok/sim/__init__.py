"""TikTok Shop's strict simulator (``app``), its conformance driver and demo accounts."""
