"""History in PostgreSQL: the audit trail archived from the Redis streams, and pages of it.

Pure storage logic (psycopg 3, redis-py; never ray): ``migrations`` (the schema), ``streams``
(reading the streams' unarchived tails), ``archive`` (one batch, exactly once), ``versions``
(every order's versions, built from the entries), ``pages`` (keyset pages of audit entries and
orders, merged with what Redis has not handed over yet).
"""
