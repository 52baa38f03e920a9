"""A strict Amazon SP-API simulator (``app``) and the seller's relay signing notifications."""
