-- Atomic commit of one or more batches' writes, for every vshard they touch, in one call.
-- ARGV: token, idem_ttl, audit_maxlen, payload, idem_registry, idem_bucket_s, order_registry,
--   order_buckets, marker_registry, marker_s, marker_buckets
--   payload (JSON): [{"b": key_base, "s": [[sku, record], ...], "i": [[selector, field, value, merge], ...],
--                     "a": [entry, ...], "o": [[selector, field, value, window, marker, fresh], ...]}, ...]
--   An audit entry is its values in engine.audit_entries.FIELDS order (null where empty), written
--   as a stream entry of one-letter fields after ``v 2`` (AUDIT below), an empty one left out;
--   the time, last, is field ``u`` when it is a number (microseconds), ``w`` when text.
--   one object per (batch, vshard), in decision order; key_base is "prefix:{vN}".
--   An order record (engine.order_codec) goes to the current bucket of its ``window`` (seconds,
--   cut into order_buckets; a parked cancel's, without ``marker``, in one bucket named ``p<window>``),
--   in the hash ``selector`` picks, under ``field`` (engine.store.order_records); one that is not
--   ``fresh`` replaces a record, whose copy in any other live bucket is deleted. With ``marker``
--   the same field is set, empty, in the current marker bucket (window marker_s:
--   engine.store.order_windows).
--   An idempotency record (``engine.idempotency.record``) goes to the current idempotency bucket,
--   in the hash ``selector`` picks, under ``field`` (engine.store.idem_layout.key_digest).
-- Keys are built here from key_base, so every key of a vshard carries its hash tag; passing them
-- one by one would cost a client-side argument per write, which was the largest single cost of
-- a commit. Every vshard's owner token is checked before anything is written: a stale (zombie)
-- shard writes nothing, and a commit lands whole or not at all.
local token = ARGV[1]
local idem_ttl = tonumber(ARGV[2])
local maxlen = ARGV[3]
local groups = cjson.decode(ARGV[4])
local idem_reg, idem_bs = ARGV[5], tonumber(ARGV[6])
local order_reg, order_buckets = ARGV[7], tonumber(ARGV[8])
local marker_reg, marker_s = ARGV[9], tonumber(ARGV[10])
local marker_bs = math.max(1, math.ceil(marker_s / tonumber(ARGV[11])))
-- Redis's clock, the one its expiries run on: a bucket is the span of time its records were set in.
local now = tonumber(redis.call('TIME')[1])

local AUDIT = {'k', 't', 'c', 'o', 's', 'n', 'b', 'a', 'r', 'x', 'w'}
local null = cjson.null

-- The current bucket of a registry's window (engine.store.buckets): its hashes' name prefix, how
-- many there are, their expiry. Registered by its first record, with as many hashes as keep ~64
-- records each at the rate of the bucket before it (PER_HASH, MIN_SUBS, MAX_SUBS there).
local current = {}
local order_live = nil  -- every registered order bucket, once a replacing write needs them
local function bucket(reg, label, window, span)
  local id = reg .. ' ' .. label
  local bk = current[id]
  if bk then
    return bk
  end
  local b = math.floor(now / span)
  local name = label .. ':' .. b
  local subs, expiry
  local info = redis.call('HGET', reg, name)
  if info then
    local s, e = string.match(info, '^(%d+) (%d+)$')
    subs, expiry = tonumber(s), tonumber(e)
  else
    local before = tonumber(redis.call('HGET', reg, label .. ':' .. (b - 1) .. ':n') or '0')
    -- Parked cancels' buckets (``p<window>``) start at one hash: they are few, and every new
    -- sale's lookup reads them (fetch.lua), one HMGET per hash a batch's orders fall in.
    subs = string.sub(label, 1, 1) == 'p' and 1 or 64
    while subs * 64 < before and subs < 1048576 do
      subs = subs * 2
    end
    expiry = (b + 1) * span + window
    -- forget buckets that have expired (a handful of fields: the registry stays small)
    local entries = redis.call('HGETALL', reg)
    for i = 1, #entries, 2 do
      local e = string.match(entries[i + 1], '^%d+ (%d+)$')
      if e and tonumber(e) <= now then
        redis.call('HDEL', reg, entries[i], entries[i] .. ':n')
      end
    end
    redis.call('HSET', reg, name, subs .. ' ' .. expiry)
    if reg == order_reg and order_live then
      order_live[#order_live + 1] = {base = reg .. ':' .. name .. ':', subs = subs}
    end
  end
  bk = {reg = reg, name = name, base = reg .. ':' .. name .. ':', subs = subs, expiry = expiry, n = 0, expiring = {}}
  current[id] = bk
  current[#current + 1] = bk
  return bk
end

local function hash_of(bk, selector)
  return bk.base .. string.format('%x', selector % bk.subs)
end

local function put(bk, name, field, value)
  redis.call('HSET', name, field, value)
  bk.n = bk.n + 1
  if not bk.expiring[name] then
    bk.expiring[name] = true
    redis.call('EXPIREAT', name, bk.expiry)
  end
end

-- An event split across shards has its idempotency record written by each of them: ``merge``
-- joins this shard's parts to what another wrote in this bucket (a record in an earlier bucket
-- is joined when read: fetch.lua). A record of another fingerprint (the first 16 characters)
-- stands: the key was taken by another payload first.
local function put_idem(selector, field, value, merge)
  local bk = bucket(idem_reg, idem_ttl, idem_ttl, idem_bs)
  local name = hash_of(bk, selector)
  if merge then
    local stored = redis.call('HGET', name, field)
    if stored then
      if string.sub(stored, 1, 16) ~= string.sub(value, 1, 16) then
        return
      end
      value = stored .. string.sub(value, 17)
    end
  end
  put(bk, name, field, value)
end

-- A record replacing another deletes the other's copy wherever it is (engine.store.order_records).
local function put_order(o)
  local window, bk = tonumber(o[4]), nil
  if o[5] then
    bk = bucket(order_reg, window, window, math.max(1, math.ceil(window / order_buckets)))
  else  -- a parked cancel: one bucket of its own window (engine.store.order_records)
    bk = bucket(order_reg, 'p' .. window, window, window)
  end
  local name = hash_of(bk, o[1])
  put(bk, name, o[2], o[3])
  if o[6] then
    return
  end
  if not order_live then
    order_live = {}
    local entries = redis.call('HGETALL', order_reg)
    for i = 1, #entries, 2 do
      local subs = string.match(entries[i + 1], '^(%d+) %d+$')
      if subs then
        order_live[#order_live + 1] = {base = order_reg .. ':' .. entries[i] .. ':', subs = tonumber(subs)}
      end
    end
  end
  for _, other in ipairs(order_live) do
    local old = hash_of(other, o[1])
    if old ~= name then
      redis.call('HDEL', old, o[2])
    end
  end
end

for _, g in ipairs(groups) do
  if redis.call('GET', g.b .. ':owner') ~= token then
    return redis.error_reply('FENCED stale shard epoch')
  end
end
local n = 0
for _, g in ipairs(groups) do
  local base = g.b
  local stock, audit = base .. ':stock', base .. ':audit'
  for _, kv in ipairs(g.s) do
    redis.call('HSET', stock, kv[1], kv[2])
  end
  for _, kv in ipairs(g.i) do
    put_idem(kv[1], kv[2], kv[3], kv[4])
  end
  n = n + #g.i
  for _, entry in ipairs(g.a) do
    local args, k = {audit, 'MAXLEN', '~', maxlen, '*', 'v', '2'}, 7
    for i = 1, 11 do
      local v = entry[i]
      if v ~= null then
        args[k + 1], args[k + 2] = AUDIT[i], v
        k = k + 2
      end
    end
    if type(entry[11]) == 'number' then  -- the time in whole microseconds (audit_entries.at_value)
      args[k - 1] = 'u'
    end
    redis.call('XADD', unpack(args))
  end
  for _, o in ipairs(g.o) do
    put_order(o)
    if o[5] then
      local bk = bucket(marker_reg, marker_s, marker_s, marker_bs)
      put(bk, hash_of(bk, o[1]), o[2], '')
    end
  end
end
for _, bk in ipairs(current) do
  if bk.n > 0 then
    redis.call('HINCRBY', bk.reg, bk.name .. ':n', bk.n)
  end
end
return n
