-- ARGV 5 handle, 6 verifier hash, 7 user, 8 idle ms, 9 absolute ms,
-- 10 per-user limit (0: none), 11 on limit ('evict_oldest' | 'refuse'), 12.. attribute pairs.
-- Returns '!collision', '!limit:<limit>', or the new session's answer (common.lua).
local h, vh, user = ARGV[5], ARGV[6], ARGV[7]
local idle, absolute = tonumber(ARGV[8]), tonumber(ARGV[9])
local limit, on_limit = tonumber(ARGV[10]), ARGV[11]
local attrs = {}
for i = 12, #ARGV, 2 do attrs[ARGV[i]] = ARGV[i + 1] end
attrs = attributes(attrs)
-- Selectors are random; one that is taken anywhere in the cluster is drawn again.
if redis.call('HEXISTS', K_SESS, h) == 1 then return '!collision' end
local ukey = user_key(user)
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
redis.call('SADD', ukey, member(h))
-- The set outlives none of its sessions, and no longer than the last of
-- them can live: an expiry leaves its member to whoever reads the set next.
if redis.call('PEXPIREAT', ukey, ms(s.abs), 'NX') == 0 then
  redis.call('PEXPIREAT', ukey, ms(s.abs), 'GT')
end
redis.call('HINCRBY', K_META, 'logins', '1')
local n = redis.call('HLEN', K_SESS)
if n > tonumber(redis.call('HGET', K_META, 'peak') or '0') then redis.call('HSET', K_META, 'peak', ms(n)) end
return answer(e)
