"""Ray runtime: thin actor shells around engine objects, the HTTP gateway and the command line."""
