-- Ends up to ARGV 7 sessions of user ARGV 5 (actor ARGV 6); the caller
-- repeats until none is left. Returns { revoked, left }.
local ukey = user_key(ARGV[5])
local actor = ARGV[6]
local revoked = 0
for _, m in ipairs(redis.call('SRANDMEMBER', ukey, ARGV[7])) do
  local s = live(handle_of(m), nil)
  if s and s.user == ARGV[5] then
    announce_due_touch(s)
    finish(s, 'revoked', 'revoked', nil, nil, actor, 'revoked')
    revoked = revoked + 1
  else
    redis.call('SREM', ukey, m)
  end
end
return { revoked, redis.call('SCARD', ukey) }
