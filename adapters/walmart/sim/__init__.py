"""A strict simulated Walmart Marketplace account (``app``), its conformance driver, its demo account."""
