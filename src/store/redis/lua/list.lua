-- A page of live sessions, soonest own deadline first (ties by handle).
-- ARGV 5 user ('' for all), 6 limit, 7 cursor deadline ('' for the start),
-- 8 cursor handle. Returns { next cursor or '', each session encoded as an
-- event (`encode`)... }.
local user, limit = ARGV[5], tonumber(ARGV[6])
local cs, ch = tonumber(ARGV[7]), ARGV[8]
local out = {}
if user ~= '' then
  -- Through the user's own set: costs that user's sessions, not all of them.
  local found = {}
  for _, m in ipairs(redis.call('SMEMBERS', user_key(user))) do
    local h = handle_of(m)
    local s = load(h)
    if s and s.user == user and not due(s) then
      local score = (own_deadline(s))
      if cs == nil or score > cs or (score == cs and h > ch) then
        table.insert(found, { s = s, score = score })
      end
    end
  end
  table.sort(found, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.s.h < b.s.h
  end)
  for i = 1, math.min(#found, limit + 1) do out[i] = found[i] end
else
  local start = 0
  if cs ~= nil then start = rank_after(cs, ch) end
  while #out <= limit do
    local chunk = redis.call('ZRANGE', K_DUE, ms(start), ms(start + 255), 'WITHSCORES')
    if #chunk == 0 then break end
    for i = 1, #chunk, 2 do
      if #out > limit then break end
      local s = load(chunk[i])
      if s and not due(s) then table.insert(out, { s = s, score = tonumber(chunk[i + 1]) }) end
    end
    start = start + 256
  end
end
local reply = { '' }
for i, o in ipairs(out) do
  if i > limit then
    reply[1] = ms(out[limit].score) .. ':' .. hex(out[limit].s.h)
    break
  end
  table.insert(reply, encode(o.s, 'active'))
end
return reply
