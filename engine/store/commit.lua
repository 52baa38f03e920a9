-- Atomic commit of one or more batches' writes, for every vshard they touch, in one call.
-- ARGV: token, idem_ttl, audit_maxlen, payload, idem_registry, marker_bucket_s, marker_s, idem_bucket_s
--   payload (JSON): [{"b": key_base, "s": [[sku, record], ...], "i": [[selector, field, value, merge], ...],
--                     "a": [entry, ...], "o": [[channel, order_id, value, ttl, marker], ...]}, ...]
--   An audit entry is its values in engine.audit_entries.FIELDS order (null where empty), written
--   as a stream entry of one-letter fields after ``v 2`` (AUDIT below), an empty one left out;
--   the time, last, is field ``u`` when it is a number (microseconds), ``w`` when text.
--   one object per (batch, vshard), in decision order; key_base is "prefix:{vN}".
--   An order record expires ``ttl`` seconds after this write; ``marker`` (hex, "" for a parked
--   cancel) is set in the vshard's marker bucket of the current time (engine.store.order_windows).
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
local idem_reg = ARGV[5]
local bucket_s, marker_s = tonumber(ARGV[6]), tonumber(ARGV[7])
local idem_bs = tonumber(ARGV[8])
-- Redis's clock, the one its expiries run on: a bucket is the span of time its markers were set in.
local now = tonumber(redis.call('TIME')[1])
local bucket = math.floor(now / bucket_s)
local bucket_end = (bucket + 1) * bucket_s + marker_s

local AUDIT = {'k', 't', 'c', 'o', 's', 'n', 'b', 'a', 'r', 'x', 'w'}
local null = cjson.null

local function raw(hex)  -- 8 bytes instead of 16 hex digits per marker
  return (string.gsub(hex, '..', function(h) return string.char(tonumber(h, 16)) end))
end

-- The current idempotency bucket: its hashes' name prefix, how many there are, their expiry.
-- Registered by its first record, with as many hashes as keep ~64 records each at the rate of
-- the bucket before it (engine.store.idem_layout: PER_HASH, MIN_SUBS, MAX_SUBS).
local idem_base, idem_subs, idem_end, idem_name
local function idem_bucket()
  local b = math.floor(now / idem_bs)
  idem_name = idem_ttl .. ':' .. b
  idem_base = idem_reg .. ':' .. idem_name .. ':'
  local info = redis.call('HGET', idem_reg, idem_name)
  if info then
    local subs, expiry = string.match(info, '^(%d+) (%d+)$')
    idem_subs, idem_end = tonumber(subs), tonumber(expiry)
    return
  end
  local before = tonumber(redis.call('HGET', idem_reg, idem_ttl .. ':' .. (b - 1) .. ':n') or '0')
  idem_subs = 64
  while idem_subs * 64 < before and idem_subs < 1048576 do
    idem_subs = idem_subs * 2
  end
  idem_end = (b + 1) * idem_bs + idem_ttl
  -- forget buckets that have expired (a handful of fields: the registry stays small)
  local reg = redis.call('HGETALL', idem_reg)
  for i = 1, #reg, 2 do
    local expiry = string.match(reg[i + 1], '^%d+ (%d+)$')
    if expiry and tonumber(expiry) <= now then
      redis.call('HDEL', idem_reg, reg[i], reg[i] .. ':n')
    end
  end
  redis.call('HSET', idem_reg, idem_name, idem_subs .. ' ' .. idem_end)
end

-- An event split across shards has its idempotency record written by each of them: ``merge``
-- joins this shard's parts to what another wrote in this bucket (a record in an earlier bucket
-- is joined when read: fetch.lua). A record of another fingerprint (the first 16 characters)
-- stands: the key was taken by another payload first.
local idem_expiring = {}
local function put_idem(selector, field, value, merge)
  if not idem_base then
    idem_bucket()
  end
  local name = idem_base .. string.format('%x', selector % idem_subs)
  if merge then
    local stored = redis.call('HGET', name, field)
    if stored then
      if string.sub(stored, 1, 16) ~= string.sub(value, 1, 16) then
        return
      end
      value = stored .. string.sub(value, 17)
    end
  end
  redis.call('HSET', name, field, value)
  if not idem_expiring[name] then
    idem_expiring[name] = true
    redis.call('EXPIREAT', name, idem_end)
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
  local seen = nil
  for _, o in ipairs(g.o) do
    redis.call('SET', base .. ':order:' .. o[1] .. ':' .. o[2], o[3], 'EX', o[4])
    if o[5] ~= '' then
      seen = base .. ':seen:' .. bucket
      redis.call('HSET', seen, raw(o[5]), '')
    end
  end
  if seen then
    redis.call('EXPIREAT', seen, bucket_end)
  end
  n = n + #g.i
end
if idem_name and n > 0 then
  redis.call('HINCRBY', idem_reg, idem_name .. ':n', n)
end
return n
