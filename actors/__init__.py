"""Ray runtime: thin actor shells around engine objects, the HTTP gateway and the command line."""

import adapters  # noqa: F401  (registers every kind's configuration keys before a config is read)
