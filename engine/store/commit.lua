-- Atomic commit of one virtual shard's writes for one or more batches.
-- KEYS: owner, stock, audit (all with the vshard's hash tag {vN}).
-- ARGV: token, idem_ttl, audit_maxlen, park_ttl, key_base, payload
--   payload (JSON): {"s": [[sku, record], ...], "i": [[event_key, value], ...],
--                    "a": [entry, ...], "o": [[channel, order_id, value, expires], ...]}
-- Idempotency and order keys are built here from key_base ("prefix:{vN}"), so they carry the
-- same hash tag as KEYS and live in the same Cluster slot; passing them one by one would cost
-- a client-side argument per write, which was the largest single cost of a commit.
-- Refuses everything when the owner token is not ours: a stale (zombie) shard cannot write.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED stale shard epoch')
end
local idem_ttl = tonumber(ARGV[2])
local maxlen = ARGV[3]
local park_ttl = tonumber(ARGV[4])
local base = ARGV[5]
local p = cjson.decode(ARGV[6])
for _, kv in ipairs(p.s) do
  redis.call('HSET', KEYS[2], kv[1], kv[2])
end
for _, kv in ipairs(p.i) do
  redis.call('SET', base .. ':idem:' .. kv[1], kv[2], 'EX', idem_ttl)
end
for _, entry in ipairs(p.a) do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'd', entry)
end
for _, o in ipairs(p.o) do
  local key = base .. ':order:' .. o[1] .. ':' .. o[2]
  if o[4] then
    redis.call('SET', key, o[3], 'EX', park_ttl)
  else
    redis.call('SET', key, o[3])
  end
end
return #p.i
