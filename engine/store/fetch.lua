-- Read a batch's idempotency and order records, across every vshard of the shard, in one call.
-- ARGV[1]: JSON array of order record names.
-- ARGV[2]: JSON {"t": [key_base per order name], "m": [marker hex per order name], "s": marker
--   bucket seconds, "k": buckets to read} (engine.store.order_windows).
-- ARGV[3]: JSON [[selector, field], ...] of the idempotency records (engine.store.idem_layout).
-- ARGV[4]: the idempotency bucket registry (Keys.idem_registry).
-- ARGV[5]: JSON array, empty or the names of the idempotency records' keys of the layout before
--   the buckets (one key per record), read for one window after an upgrade (engine.store.idem_layout).
-- Returns a JSON array of the values, idempotency records first, then order records, then the
-- older layout's records if asked for; null for missing ones, and "expired" for an order record
-- that is missing while its order's marker is live (its record expired: the ledger must not take
-- it for a new order).
-- One argument and one reply instead of a command argument per key (the client-side packing of
-- thousands of key names was a sixth of a shard's time), and one call per batch instead of one
-- per vshard (a small batch of orders spread over many SKUs touches a vshard per order, and each
-- script call costs Redis about 10 us and the client more).
local names = cjson.decode(ARGV[1])
local orders = cjson.decode(ARGV[2])
local idem = cjson.decode(ARGV[3])
local nidem = #idem
local out, n = {}, #names
local now = tonumber(redis.call('TIME')[1])
for i = 1, nidem do
  out[i] = cjson.null
end

-- Idempotency records: every live bucket, oldest first, one HMGET per hash the batch's keys fall
-- in. An event split across shards may have records in two buckets: parts of the same
-- fingerprint (its first 16 characters) are joined, and the oldest fingerprint stands.
if nidem > 0 then
  local reg = redis.call('HGETALL', ARGV[4])
  local live = {}
  for i = 1, #reg, 2 do
    local subs, expiry = string.match(reg[i + 1], '^(%d+) (%d+)$')
    if subs and tonumber(expiry) > now then
      live[#live + 1] = {ARGV[4] .. ':' .. reg[i] .. ':', tonumber(subs), tonumber(expiry)}
    end
  end
  table.sort(live, function(a, b) return a[3] < b[3] end)
  for _, bucket in ipairs(live) do
    local hashes, order = {}, {}
    for i, key in ipairs(idem) do
      local name = bucket[1] .. string.format('%x', key[1] % bucket[2])
      local group = hashes[name]
      if not group then
        group = {{}, {}}
        hashes[name] = group
        order[#order + 1] = name
      end
      group[1][#group[1] + 1] = key[2]
      group[2][#group[2] + 1] = i
    end
    for _, name in ipairs(order) do
      local group = hashes[name]
      local hit = redis.call('HMGET', name, unpack(group[1]))
      for j, v in ipairs(hit) do
        if v then
          local at = group[2][j]
          local have = out[at]
          if have == cjson.null then
            out[at] = v
          elseif string.sub(have, 1, 16) == string.sub(v, 1, 16) then
            out[at] = have .. string.sub(v, 17)
          end
        end
      end
    end
  end
end

-- Order records: MGET in slices, one command per 1,000 keys (unpack's stack is bounded).
for first = 1, n, 1000 do
  local values = redis.call('MGET', unpack(names, first, math.min(first + 999, n)))
  for i, v in ipairs(values) do
    if v then out[nidem + first + i - 1] = v else out[nidem + first + i - 1] = cjson.null end
  end
end

-- Missing order records, grouped by vshard: one HMGET per vshard and live bucket, not per order.
local missing, bases = {}, {}
for j, base in ipairs(orders.t) do
  local at = nidem + j
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
  local now_bucket = math.floor(now / orders.s)
  for _, base in ipairs(bases) do
    local group = missing[base]
    local fields = {}
    for i, at in ipairs(group) do
      fields[i] = string.gsub(orders.m[at - nidem], '..', function(h) return string.char(tonumber(h, 16)) end)
    end
    for b = now_bucket, now_bucket - orders.k, -1 do
      for first = 1, #fields, 1000 do
        local hit = redis.call('HMGET', base .. ':seen:' .. b, unpack(fields, first, math.min(first + 999, #fields)))
        for i, v in ipairs(hit) do
          if v then out[group[first + i - 1]] = 'expired' end
        end
      end
    end
  end
end
local legacy = cjson.decode(ARGV[5])
for first = 1, #legacy, 1000 do
  local values = redis.call('MGET', unpack(legacy, first, math.min(first + 999, #legacy)))
  for i, v in ipairs(values) do
    if v then out[nidem + n + first + i - 1] = v else out[nidem + n + first + i - 1] = cjson.null end
  end
end
return cjson.encode(out)
