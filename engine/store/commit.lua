-- Atomic commit of one or more batches' writes, for every vshard they touch, in one call.
-- ARGV: token, idem_ttl, audit_maxlen, park_ttl, payload, idem_prefix
--   payload (JSON): [{"b": key_base, "s": [[sku, record], ...], "i": [[event_key, value, merge], ...],
--                     "a": [entry, ...], "o": [[channel, order_id, value, expires], ...]}, ...]
--   one object per (batch, vshard), in decision order; key_base is "prefix:{vN}".
-- Keys are built here from key_base, so every key of a vshard carries its hash tag; passing them
-- one by one would cost a client-side argument per write, which was the largest single cost of
-- a commit. Every vshard's owner token is checked before anything is written: a stale (zombie)
-- shard writes nothing, and a commit lands whole or not at all.
local token = ARGV[1]
local idem_ttl = tonumber(ARGV[2])
local maxlen = ARGV[3]
local park_ttl = tonumber(ARGV[4])
local groups = cjson.decode(ARGV[5])
local idem_prefix = ARGV[6]

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
  local kept = {}  -- order records that never expire go out in MSETs of 500, not a SET each
  for _, o in ipairs(g.o) do
    local key = base .. ':order:' .. o[1] .. ':' .. o[2]
    if o[4] then
      redis.call('SET', key, o[3], 'EX', park_ttl)
    else
      kept[#kept + 1] = key
      kept[#kept + 1] = o[3]
    end
  end
  for first = 1, #kept, 1000 do
    redis.call('MSET', unpack(kept, first, math.min(first + 999, #kept)))
  end
  n = n + #g.i
end
return n
