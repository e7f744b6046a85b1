-- Touches, several at once: ARGV 5, 6, 7 are the first touch's handle,
-- presented verifier hash ('' for a touch by handle) and actor ('' for
-- none), and so on for each. A node gathers the touches that arrive while
-- its previous ones run into one call: the call, its reply and the stream
-- entry of their events are then shared. Each touch is still whole on its
-- own, in the order given. Returns one answer per touch: '!gone', or the
-- session's answer (common.lua) with, while a coalesced touch waits to be
-- announced, when it falls due, so this node's driver is told when.
local answers, touched = {}, 0
for i = 5, #ARGV, 3 do
  local hash, actor = ARGV[i + 1], ARGV[i + 2]
  if hash == '' then hash = nil end
  if actor == '' then actor = nil end
  local s = live(ARGV[i], hash)
  if not s then
    answers[#answers + 1] = '!gone'
  else
    touched = touched + 1
    answers[#answers + 1] = answer(seen(s, actor))
  end
end
if touched > 0 then redis.call('HINCRBY', K_META, 'touches', ms(touched)) end
return answers
