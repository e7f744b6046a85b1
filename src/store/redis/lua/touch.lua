-- ARGV 5 handle, 6 presented verifier hash ('' for a touch by handle), 7 actor ('' for none).
local hash = ARGV[6]
if hash == '' then hash = nil end
local s = live(ARGV[5], hash)
if not s then return '!gone' end
announce_due_touch(s)
local announce = mark_seen(s)
store(s)
redis.call('HINCRBY', K_META, 'touches', 1)
local vjson = cjson.encode(view(s, 'active'))
if announce then
  local actor = ARGV[7]
  if actor == '' then actor = nil end
  emit('touched', s, 'active', nil, nil, actor, vjson)
end
-- When a coalesced touch waits to be announced, this node's driver is told when.
if s.pend == 1 then
  return string.sub(vjson, 1, -2) .. ',"w":' .. ms(s.lte + touch_interval(s)) .. '}'
end
return vjson
