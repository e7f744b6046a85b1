-- Ends sessions of the user whose token is presented, acting as that
-- session, which the request touches (unless it ended it).
-- ARGV 5 caller's handle, 6 presented verifier hash, 7 the handle to end
-- ('' for every other session of the user). Returns '!gone' when the token
-- is not valid, '!none' when the handle is not one of the user's live
-- sessions (another user's answers the same as an unknown one; nothing
-- changes), else { the number of sessions ended, when the caller's
-- coalesced touch falls due ('' for none) }.
local me = live(ARGV[5], ARGV[6])
if not me then return '!gone' end
local actor = 'session ' .. hex(me.h)
local function revoke(s)
  announce_due_touch(s)
  finish(s, 'revoked', 'revoked', nil, nil, actor, 'revoked')
end
local function done(ended)
  local _, wake = seen(me)
  redis.call('HINCRBY', K_META, 'touches', '1')
  return { ended, wake or '' }
end
if ARGV[7] ~= '' then
  local s = live(ARGV[7], nil)
  if not s or s.user ~= me.user then return '!none' end
  revoke(s)
  if s.h == me.h then return { 1, '' } end
  return done(1)
end
local ukey = user_key(me.user)
local ended = 0
for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
  local h = handle_of(m)
  if h ~= me.h then
    local s = live(h, nil)
    if s and s.user == me.user then
      revoke(s)
      ended = ended + 1
    else
      redis.call('SREM', ukey, m)
    end
  end
end
return done(ended)
