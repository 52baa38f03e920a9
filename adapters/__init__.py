"""Marketplace adapters: one package per kind (inbound verify + normalise, outbound requests,
reconciliation reads, keys, simulator), found by name (``adapters.base.adapter_for``).

Importing this package registers every kind's typed configuration keys with the engine
(``adapters/<kind>/keys.py`` calls ``engine.channel_keys.register``): the engine names no kind, and
every process that reads a configuration imports ``actors`` or ``adapters`` first. So a new kind is
a new package here, and nothing outside it changes.
"""

import importlib
import pkgutil

for _kind in pkgutil.iter_modules(__path__):
    if _kind.ispkg and _kind.name != "sim":
        try:
            importlib.import_module(f"{__name__}.{_kind.name}.keys")
        except ModuleNotFoundError as _exc:
            if _exc.name != f"{__name__}.{_kind.name}.keys":
                raise
