-- ARGV 5 handle, 6 presented verifier hash ('' for a touch by handle), 7 actor ('' for none).
-- Returns '!gone', or the session's answer (common.lua) with, while a
-- coalesced touch waits to be announced, when it falls due, so this node's
-- driver is told when.
local hash = ARGV[6]
if hash == '' then hash = nil end
local s = live(ARGV[5], hash)
if not s then return '!gone' end
announce_due_touch(s)
local announce = mark_seen(s)
redis.call('HINCRBY', K_META, 'touches', '1')
local e
if announce then
  local actor = ARGV[7]
  if actor == '' then actor = nil end
  e = emit('touched', s, 'active', nil, nil, actor)
else
  e = encode(s, 'active')
end
store(s)
if s.pend == 1 then return answer(e, s.lte + touch_interval(s)) end
return answer(e)
