-- Read a batch's idempotency and order records, across every vshard of the shard, in one call.
-- ARGV[1]: JSON [[selector, field], ...] of the order records (engine.store.order_records); a
--   third element (1) on an order whose record may outlive its marker: its buckets are all read.
-- ARGV[2]: JSON {"t": [key_base per order], "m": [marker hex per order], "s": marker bucket
--   seconds, "k": buckets to read} of the markers of the layout before the buckets, while they
--   may live; {"t": []} otherwise (engine.store.order_windows).
-- ARGV[3]: JSON [[selector, field], ...] of the idempotency records (engine.store.idem_layout).
-- ARGV[4]: the idempotency bucket registry (Keys.idem_registry).
-- ARGV[5]: JSON array, empty or the names of the idempotency records' keys of the layout before
--   the buckets (one key per record), read for one window after an upgrade (engine.store.idem_layout).
-- ARGV[6]: the order bucket registry (Keys.order_registry).
-- ARGV[7]: JSON array, empty or the names of the order records' keys of the layout before the
--   buckets (Keys.order, one per order), read when an order has no record in the buckets, until
--   such records have expired (engine.store.order_records).
-- ARGV[8]: the marker bucket registry (Keys.seen_registry): an order's marker has its record's field.
-- Returns a JSON array of the values, idempotency records first, then order records, then the
-- older layout's idempotency records if asked for; null for missing ones, and "expired" for an
-- order record that is missing while its order's marker is live (its record expired: the ledger
-- must not take it for a new order).
-- One argument and one reply instead of a command argument per key (the client-side packing of
-- thousands of key names was a sixth of a shard's time), and one call per batch instead of one
-- per vshard (a small batch of orders spread over many SKUs touches a vshard per order, and each
-- script call costs Redis about 10 us and the client more).
local orders = cjson.decode(ARGV[1])
local seen = cjson.decode(ARGV[2])
local idem = cjson.decode(ARGV[3])
local nidem, n = #idem, #orders
local out = {}
local now = tonumber(redis.call('TIME')[1])
for i = 1, nidem + n do
  out[i] = cjson.null
end

-- Records in time-bucketed hashes (engine.store.buckets): every live bucket of ``reg``, oldest
-- first, one HMGET per hash the keys fall in; ``take(i, value)`` gets each value found for keys[i].
-- With ``only``, the buckets whose name it accepts.
local function lookup(reg, keys, take, only)
  if #keys == 0 then
    return
  end
  local entries = redis.call('HGETALL', reg)
  local live = {}
  for i = 1, #entries, 2 do
    local subs, expiry = string.match(entries[i + 1], '^(%d+) (%d+)$')
    if subs and tonumber(expiry) > now and (not only or only(entries[i])) then
      live[#live + 1] = {reg .. ':' .. entries[i] .. ':', tonumber(subs), tonumber(expiry)}
    end
  end
  table.sort(live, function(a, b) return a[3] < b[3] end)
  for _, bucket in ipairs(live) do
    local hashes, order = {}, {}
    for i, key in ipairs(keys) do
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
      for first = 1, #group[1], 1000 do  -- unpack's stack is bounded
        local hit = redis.call('HMGET', name, unpack(group[1], first, math.min(first + 999, #group[1])))
        for j, v in ipairs(hit) do
          if v then
            take(group[2][first + j - 1], v)
          end
        end
      end
    end
  end
end

-- An event split across shards may have idempotency records in two buckets: parts of the same
-- fingerprint (its first 16 characters) are joined, and the oldest fingerprint stands.
if nidem > 0 then
  lookup(ARGV[4], idem, function(at, v)
    local have = out[at]
    if have == cjson.null then
      out[at] = v
    elseif string.sub(have, 1, 16) == string.sub(v, 1, 16) then
      out[at] = have .. string.sub(v, 17)
    end
  end)
end

-- Order records, marker first. Every record but a parked cancel's is written with its marker,
-- which outlives it (engine.store.order_windows): an order without a marker has at most a parked
-- cancel's record (in the buckets named ``p<window>``) or one of the layout before; with a marker,
-- a record in the other buckets or none ("expired"). So a new sale, the hot path, reads the
-- marker buckets and the parked cancels' only. A record has one copy (a replacing write deletes
-- the other: commit.lua); if there were more, the newest bucket's would be taken.
local marked, sure, unsure, at_sure, at_unsure = {}, {}, {}, {}, {}
if n > 0 then
  lookup(ARGV[8], orders, function(i) marked[i] = true end)
  for j = 1, n do
    if marked[j] or orders[j][3] then
      sure[#sure + 1], at_sure[#at_sure + 1] = orders[j], j
    else
      unsure[#unsure + 1], at_unsure[#at_unsure + 1] = orders[j], j
    end
  end
  local function parked(label) return string.sub(label, 1, 1) == 'p' end
  lookup(ARGV[6], sure, function(i, v) out[nidem + at_sure[i]] = v end)
  lookup(ARGV[6], unsure, function(i, v) out[nidem + at_unsure[i]] = v end, parked)
  for j = 1, n do
    if marked[j] and out[nidem + j] == cjson.null then
      out[nidem + j] = 'expired'
    end
  end
end
local old = cjson.decode(ARGV[7])
for first = 1, #old, 1000 do
  local values = redis.call('MGET', unpack(old, first, math.min(first + 999, #old)))
  for i, v in ipairs(values) do
    local at = nidem + first + i - 1
    if v and out[at] == cjson.null then
      out[at] = v
    end
  end
end

-- Markers of the layout before of orders still without a record, grouped by vshard: one HMGET per
-- vshard and live bucket.
local missing, bases = {}, {}
for j, base in ipairs(seen.t) do
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
  local now_bucket = math.floor(now / seen.s)
  for _, base in ipairs(bases) do
    local group = missing[base]
    local fields = {}
    for i, at in ipairs(group) do
      fields[i] = string.gsub(seen.m[at - nidem], '..', function(h) return string.char(tonumber(h, 16)) end)
    end
    for b = now_bucket, now_bucket - seen.k, -1 do
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
