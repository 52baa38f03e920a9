-- Atomic commit of one or more batches' writes, for every vshard they touch, in one call.
-- ARGV: token, idem_ttl, audit_maxlen, park_ttl, payload
--   payload (JSON): [{"b": key_base, "s": [[sku, record], ...], "i": [[event_key, value], ...],
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
    redis.call('SET', base .. ':idem:' .. kv[1], kv[2], 'EX', idem_ttl)
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
