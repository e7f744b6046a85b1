-- ARGV 5 handle. Nothing when there is no live session; else the session
-- (encoded as an event, `encode`), then its events newest first as seq and
-- event pairs: the chain from its newest event back, as far as the stream
-- still holds it (at most SESSION_EVENTS of them).
local SESSION_EVENTS = 1000
local s = live(ARGV[5], nil)
if not s then return {} end
local out = { encode(s, 'active') }
-- Event `seq` and its session's previous seq, from the entry that holds it
-- (`emit` in common.lua): the newest entry whose id is at most `seq`.
local function find(seq)
  local found = redis.call('XREVRANGE', K_EV, ms(seq) .. '-0', '-', 'COUNT', '1')[1]
  if not found then return nil end
  local index = seq - tonumber(string.match(found[1], '^%d+'))
  local f = {}
  local fields = found[2]
  for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
  if f.v then
    if index ~= 0 then return nil end
    return f.v, tonumber(f.p) or 0
  end
  if not f.b then return nil end
  local n = 0
  local prev
  for p in string.gmatch(f.q, '%d+') do
    if n == index then prev = tonumber(p) break end
    n = n + 1
  end
  if not prev then return nil end
  local at = 1
  for _ = 1, index do
    local colon = string.find(f.b, ':', at, true)
    at = colon + 1 + tonumber(string.sub(f.b, at, colon - 1))
  end
  local colon = string.find(f.b, ':', at, true)
  return string.sub(f.b, colon + 1, colon + tonumber(string.sub(f.b, at, colon - 1))), prev
end
local seq = s.last
while seq > 0 and #out < 2 * SESSION_EVENTS do
  local v, p = find(seq)
  if not v then break end
  out[#out + 1] = ms(seq)
  out[#out + 1] = v
  seq = p
end
return out
