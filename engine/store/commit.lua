-- Atomic commit of one or more batches' writes, for every vshard they touch, in one call.
-- ARGV: token, idem_ttl, audit_maxlen, payload, idem_prefix, marker_bucket_s, marker_s
--   payload (JSON): [{"b": key_base, "s": [[sku, record], ...], "i": [[event_key, value, merge], ...],
--                     "a": [entry, ...], "o": [[channel, order_id, value, ttl, marker], ...]}, ...]
--   one object per (batch, vshard), in decision order; key_base is "prefix:{vN}".
--   An order record expires ``ttl`` seconds after this write; ``marker`` (hex, "" for a parked
--   cancel) is set in the vshard's marker bucket of the current time (engine.store.order_windows).
-- Keys are built here from key_base, so every key of a vshard carries its hash tag; passing them
-- one by one would cost a client-side argument per write, which was the largest single cost of
-- a commit. Every vshard's owner token is checked before anything is written: a stale (zombie)
-- shard writes nothing, and a commit lands whole or not at all.
local token = ARGV[1]
local idem_ttl = tonumber(ARGV[2])
local maxlen = ARGV[3]
local groups = cjson.decode(ARGV[4])
local idem_prefix = ARGV[5]
local bucket_s, marker_s = tonumber(ARGV[6]), tonumber(ARGV[7])
-- Redis's clock, the one its expiries run on: a bucket is the span of time its markers were set in.
local bucket = math.floor(tonumber(redis.call('TIME')[1]) / bucket_s)
local bucket_end = (bucket + 1) * bucket_s + marker_s

local function raw(hex)  -- 8 bytes instead of 16 hex digits per marker
  return (string.gsub(hex, '..', function(h) return string.char(tonumber(h, 16)) end))
end

-- An event split across shards has its idempotency record written by each of them: ``merge``
-- joins this shard's parts to what another wrote, by splicing the JSON text (``[fp,{parts}]``)
-- rather than re-encoding it (cjson would turn an empty list into an object). A record of
-- another fingerprint stands: the key was taken by another payload first.
local function merged(name, value)
  local stored = redis.call('GET', name)
  if not stored then
    return value
  end
  local head = string.match(value, '^%["[0-9a-f]*",{')
  if string.sub(stored, 1, #head) ~= head then
    return nil
  end
  return string.sub(stored, 1, -3) .. ',' .. string.sub(value, #head + 1)
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
    local name, value = idem_prefix .. kv[1], kv[2]
    if kv[3] then
      value = merged(name, value)
    end
    if value then
      redis.call('SET', name, value, 'EX', idem_ttl)
    end
  end
  for _, entry in ipairs(g.a) do
    redis.call('XADD', audit, 'MAXLEN', '~', maxlen, '*', 'd', entry)
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
return n
