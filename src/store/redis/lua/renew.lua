-- ARGV 5 handle, 6 presented verifier hash, 7 the new verifier hash.
-- Returns '!gone' or the session's answer (common.lua).
local s = live(ARGV[5], ARGV[6])
if not s then return '!gone' end
announce_due_touch(s)
s.vh = ARGV[7]
mark_seen(s)
-- The renewal announces this activity; nothing is left to announce.
s.lte = NOW
if s.pend == 1 then
  s.pend = 0
  redis.call('ZREM', K_TOUCH, s.h)
end
redis.call('HINCRBY', K_META, 'renewals', '1')
local e = emit('renewed', s, 'active')
store(s)
return answer(e)
