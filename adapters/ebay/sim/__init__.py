"""A strict eBay simulator (``app``), its notification signer (``notify``) and conformance driver."""
