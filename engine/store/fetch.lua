-- Read a batch's idempotency and order records, across every vshard of the shard, in one call.
-- ARGV[1]: JSON array of full key names (idempotency records first, then order records).
-- ARGV[2]: JSON {"n": idempotency names, "t": [key_base per order name], "m": [marker hex per
--   order name], "s": marker bucket seconds, "k": buckets to read} (engine.store.order_windows).
-- Returns a JSON array of the values, null for missing ones, and "expired" for an order record
-- that is missing while its order's marker is live (its record expired: the ledger must not take
-- it for a new order).
-- One argument and one reply instead of a command argument per key (the client-side packing of
-- thousands of key names was a sixth of a shard's time), and one call per batch instead of one
-- per vshard (a small batch of orders spread over many SKUs touches a vshard per order, and each
-- script call costs Redis about 10 us and the client more).
local names = cjson.decode(ARGV[1])
local orders = cjson.decode(ARGV[2])
local out, n = {}, #names
-- MGET in slices: one command per 1,000 keys instead of one per key (unpack's stack is bounded).
for first = 1, n, 1000 do
  local values = redis.call('MGET', unpack(names, first, math.min(first + 999, n)))
  for i, v in ipairs(values) do
    if v then out[first + i - 1] = v else out[first + i - 1] = cjson.null end
  end
end

-- Missing order records, grouped by vshard: one HMGET per vshard and live bucket, not per order.
local missing, bases = {}, {}
for j, base in ipairs(orders.t) do
  local at = orders.n + j
  if out[at] == cjson.null then
    if not missing[base] then
      missing[base] = {}
      bases[#bases + 1] = base
    end
    local group = missing[base]
    group[#group + 1] = at
  end
end
if #bases > 0 then
  local now = math.floor(tonumber(redis.call('TIME')[1]) / orders.s)
  for _, base in ipairs(bases) do
    local group = missing[base]
    local fields = {}
    for i, at in ipairs(group) do
      fields[i] = string.gsub(orders.m[at - orders.n], '..', function(h) return string.char(tonumber(h, 16)) end)
    end
    for b = now, now - orders.k, -1 do
      for first = 1, #fields, 1000 do
        local hit = redis.call('HMGET', base .. ':seen:' .. b, unpack(fields, first, math.min(first + 999, #fields)))
        for i, v in ipairs(hit) do
          if v then out[group[first + i - 1]] = 'expired' end
        end
      end
    end
  end
end
return cjson.encode(out)
