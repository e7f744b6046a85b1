-- ARGV 5 handle, 6 verifier hash, 7 user, 8 idle ms, 9 absolute ms,
-- 10 per-user limit (0: none), 11 on limit ('evict_oldest' | 'refuse'), 12.. attribute pairs.
-- Returns '!collision', '!limit:<limit>', '!user_key' (the user's set key
-- holds another kind of key: another deployment's prefix overlaps this one;
-- nothing is written), or the new session's answer (common.lua).
local h, vh, user = ARGV[5], ARGV[6], ARGV[7]
local idle, absolute = tonumber(ARGV[8]), tonumber(ARGV[9])
local limit, on_limit = tonumber(ARGV[10]), ARGV[11]
local attrs = {}
for i = 12, #ARGV, 2 do attrs[ARGV[i]] = ARGV[i + 1] end
attrs = attributes(attrs)
-- Selectors are random; one that is taken anywhere in the cluster is drawn again.
if redis.call('HEXISTS', K_SESS, h) == 1 then return '!collision' end
local ukey = user_key(user)
local kind = redis.call('TYPE', ukey)['ok']
if kind ~= 'set' and kind ~= 'none' then return '!user_key' end
if limit > 0 then
  local alive = {}
  for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
    local s = live(handle_of(m), nil)
    if s and s.user == user then table.insert(alive, s) else redis.call('SREM', ukey, m) end
  end
  if #alive >= limit then
    if on_limit == 'refuse' then return '!limit:' .. ms(limit) end
    table.sort(alive, older)
    for i = 1, #alive - limit + 1 do
      announce_due_touch(alive[i])
      finish(alive[i], 'revoked', 'revoked', 'evicted', nil, nil, 'revoked', limit)
      redis.call('HINCRBY', K_META, 'evicted', '1')
    end
  end
end
local s = { h = h, vh = vh, user = user, created = NOW, last_seen = NOW, idle = idle,
            abs = NOW + absolute, lte = NOW, pend = 0, attrs = attrs,
            born = redis.call('HINCRBY', K_META, 'born', '1'), last = 0 }
local e = emit('created', s, 'active')
store(s)
redis.call('ZADD', K_DUE, ms((own_deadline(s))), h)
-- The user's set. An expiry leaves its member there (claim.lua), so each
-- login looks at a few members at random and drops those whose session is
-- gone: the set stays within a small multiple of the user's live sessions
-- however often they log in. And the set expires when the last of its
-- sessions must have ended.
redis.call('SADD', ukey, member(h))
for _, m in ipairs(redis.call('SRANDMEMBER', ukey, '3')) do
  if redis.call('HEXISTS', K_SESS, handle_of(m)) == 0 then redis.call('SREM', ukey, m) end
end
local expires = redis.call('PEXPIRETIME', ukey)
if expires == -1 then
  -- No expiry yet: a new set, or one an earlier version wrote, whose
  -- sessions may end after this one.
  local last = s.abs
  if redis.call('SCARD', ukey) > 1 then
    for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
      local other = load(handle_of(m))
      if other and other.abs > last then last = other.abs end
    end
  end
  redis.call('PEXPIREAT', ukey, ms(last))
elseif expires < s.abs then
  redis.call('PEXPIREAT', ukey, ms(s.abs))
end
redis.call('HINCRBY', K_META, 'logins', '1')
local n = redis.call('HLEN', K_SESS)
if n > tonumber(redis.call('HGET', K_META, 'peak') or '0') then redis.call('HSET', K_META, 'peak', ms(n)) end
return answer(e)
