"""A marketplace whose wire format is whatever a generic channel's configuration says (``app``)."""
