-- The live sessions of the user whose token is presented, oldest first.
-- ARGV 5 handle, 6 presented verifier hash. Returns '!gone', or
-- { current handle (hex), each session encoded as an event (`encode`)... }.
-- Costs the user's sessions only.
local me = live(ARGV[5], ARGV[6])
if not me then return '!gone' end
local ukey = user_key(me.user)
local alive = {}
for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
  local s = live(handle_of(m), nil)
  if s and s.user == me.user then table.insert(alive, s) else redis.call('SREM', ukey, m) end
end
table.sort(alive, older)
local reply = { hex(me.h) }
for _, s in ipairs(alive) do table.insert(reply, encode(s, 'active')) end
return reply
