-- Atomic commit of one virtual shard's writes for one batch.
-- KEYS: owner, stock, audit, then n_idem idempotency keys, then n_orders order keys.
-- ARGV: token, idem_ttl, audit_maxlen, park_ttl,
--       n_stock, (sku, record)*, n_idem, (value)*, n_audit, (entry)*, n_orders, (value, expires)*
-- Refuses everything when the owner token is not ours: a stale (zombie) shard cannot write.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED stale shard epoch')
end
local idem_ttl = tonumber(ARGV[2])
local maxlen = ARGV[3]
local park_ttl = tonumber(ARGV[4])
local a = 5
local n = tonumber(ARGV[a]); a = a + 1
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[a], ARGV[a + 1]); a = a + 2
end
local k = 4
n = tonumber(ARGV[a]); a = a + 1
for _ = 1, n do
  redis.call('SET', KEYS[k], ARGV[a], 'EX', idem_ttl); a = a + 1; k = k + 1
end
n = tonumber(ARGV[a]); a = a + 1
for _ = 1, n do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'd', ARGV[a]); a = a + 1
end
n = tonumber(ARGV[a]); a = a + 1
for _ = 1, n do
  if ARGV[a + 1] == '1' then
    redis.call('SET', KEYS[k], ARGV[a], 'EX', park_ttl)
  else
    redis.call('SET', KEYS[k], ARGV[a])
  end
  a = a + 2; k = k + 1
end
return k - 4
