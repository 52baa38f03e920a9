-- Read a batch's idempotency and order records, across every vshard of the shard, in one call.
-- ARGV[1]: JSON array of full key names. Returns a JSON array of the values, null for missing ones.
-- One argument and one reply instead of a command argument per key (the client-side packing of
-- thousands of key names was a sixth of a shard's time), and one call per batch instead of one
-- per vshard (a small batch of orders spread over many SKUs touches a vshard per order, and each
-- script call costs Redis about 10 us and the client more).
local names = cjson.decode(ARGV[1])
local out = {}
for i, name in ipairs(names) do
  local v = redis.call('GET', name)
  if v then out[i] = v else out[i] = cjson.null end
end
return cjson.encode(out)
