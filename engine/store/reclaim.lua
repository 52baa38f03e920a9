-- Compare-and-set of a running shard's ownership: a new epoch, only if no other activation took a vshard.
-- ARGV: epoch counter key; mine, this activation's token prefix ("shard:activation."); held, the
--   number of the claim or reclaim whose token the caller holds; attempt, this reclaim's number
--   (greater than every earlier one); a JSON array of the owner keys of every owned vshard.
-- Tokens are mine .. number .. ':' .. epoch. Returns the new token, or an error reply FENCED.
-- Check and set in one script: Redis runs scripts one at a time, so no claim by a newer activation
-- and no commit under the old token can fall between them.
-- Not only the held token passes: an earlier reclaim whose reply was lost may have run and set its
-- own (numbered between held and attempt); refusing it would fence a shard nobody replaced. A later
-- one never passes: a reclaim that reaches Redis after its retry must not take the epoch the retry
-- took and commits under. A missing owner passes nothing: that vshard is not provably this shard's.
local epoch_key, mine = ARGV[1], ARGV[2]
local held, attempt = tonumber(ARGV[3]), tonumber(ARGV[4])
local owners = cjson.decode(ARGV[5])
for _, key in ipairs(owners) do
  local owner = redis.call('GET', key)
  local n = nil
  if owner and string.sub(owner, 1, #mine) == mine then
    n = tonumber(string.match(string.sub(owner, #mine + 1), '^(%d+):'))
  end
  if not n or n < held or n >= attempt then
    return redis.error_reply('FENCED a vshard was taken by a newer activation')
  end
end
local token = mine .. attempt .. ':' .. redis.call('INCR', epoch_key)
for _, key in ipairs(owners) do
  redis.call('SET', key, token)
end
return token
