-- ARGV 5 handle. Nothing when there is no live session; else the session's
-- view, then its events newest first as seq and event pairs: the chain from
-- its newest event back, as far as the stream still holds it (at most
-- SESSION_EVENTS of them).
local SESSION_EVENTS = 1000
local s = live(ARGV[5], nil)
if not s then return {} end
local out = { cjson.encode(view(s, 'active')) }
local seq = s.last
while seq > 0 and #out < 2 * SESSION_EVENTS do
  local id = ms(seq) .. '-0'
  local found = redis.call('XRANGE', K_EV, id, id)[1]
  if not found then break end
  local fields = found[2]
  local v, p = nil, 0
  for i = 1, #fields, 2 do
    if fields[i] == 'v' then v = fields[i + 1] elseif fields[i] == 'p' then p = tonumber(fields[i + 1]) end
  end
  if not v then break end
  out[#out + 1] = ms(seq)
  out[#out + 1] = v
  seq = p
end
return out
