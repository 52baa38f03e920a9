-- Read one virtual shard's idempotency and order records for a batch.
-- KEYS: owner (only to route the call to the vshard's slot on Redis Cluster).
-- ARGV: key_base ("prefix:{vN}"), JSON array of key suffixes ("idem:<key>", "order:<ch>:<id>").
-- Returns a JSON array of the values, null for missing ones.
-- One argument and one reply instead of a command argument per key: the client-side packing of
-- thousands of key names was a sixth of a shard's time.
local base = ARGV[1]
local names = cjson.decode(ARGV[2])
local out = {}
for i, suffix in ipairs(names) do
  local v = redis.call('GET', base .. ':' .. suffix)
  if v then out[i] = v else out[i] = cjson.null end
end
return cjson.encode(out)
