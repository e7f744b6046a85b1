-- The live sessions of the user whose token is presented, oldest first;
-- showing the token touches the caller's session first.
-- ARGV 5 handle, 6 presented verifier hash. Returns '!gone', or
-- { when the caller's coalesced touch falls due (decimal; '' for none), current handle
-- (hex), each session encoded as an event (`encode`)... }.
-- Costs the user's sessions only.
local me = live(ARGV[5], ARGV[6])
if not me then return '!gone' end
local _, wake = seen(me)
redis.call('HINCRBY', K_META, 'touches', '1')
local ukey = user_key(me.user)
local alive = {}
for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
  local s = live(handle_of(m), nil)
  if s and s.user == me.user then table.insert(alive, s) else redis.call('SREM', ukey, m) end
end
table.sort(alive, older)
local reply = { wake and ms(wake) or '', hex(me.h) }
for _, s in ipairs(alive) do table.insert(reply, encode(s, 'active')) end
return reply
