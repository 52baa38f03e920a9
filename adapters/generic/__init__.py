"""Generic: a marketplace connected by configuration alone, no module of its own.

Everything a marketplace module hard-codes is a key (``adapters.generic.keys``): where the order,
its id, version, status and lines sit in the webhook JSON (``inbound``, paths in the subset
``adapters.generic.jsonpath`` reads), the HMAC scheme (``signature``: sha1/sha256/sha512, the signed
string, hex or base64, header, prefix, timestamp header and tolerance), the request setting
quantities (``push``: method, URL and JSON templates, batch size, auth header, per-item errors),
the listings read (``catalog``) and an optional orders-since read (``orders``) for backfill. A bad
path, template or choice stops start-up with exit 2 naming the key.

Inbound (``inbound``, ``signature``, ``orders``): the signature checked over the raw bytes first;
the order becomes a versioned document at its last-modified time, its status mapped to placed /
updated / cancelled (restocking or not) / ignored. Outbound (``outbound``, ``template``): absolute
quantities, ``batch_size`` a request, 1 unit a request; the rate is the channel's ``rate_limit``
(else 1/s, burst 1, named as a guess). Reads (``reconcile``, ``reads``): orders since, listed
quantities, paged by number or cursor.

Unverified by nature (there is no one marketplace to check against): every choice above is the
seller's; what skusync decides is only how each is applied. Not built: signature headers holding
several fields (``t=...,v1=...``: use a relay and the relay convention), OAuth token refresh
(``access_token`` is static), opaque integer versions (the version is a time), XML or form bodies.
"""

from adapters.generic.inbound import GenericInbound
from adapters.generic.outbound import GenericOutbound
from adapters.generic.reconcile import GenericReconcile

INBOUND = GenericInbound()
OUTBOUND = GenericOutbound()
RECONCILE = GenericReconcile()
