-- A page of live sessions, soonest own deadline first (ties by handle).
-- ARGV 5 user ('' for all), 6 limit, 7 cursor deadline ('' for the start),
-- 8 cursor handle. Returns { next cursor or '', each session encoded as an
-- event (`encode`)... }.
local user, limit = ARGV[5], tonumber(ARGV[6])
local cs, ch = tonumber(ARGV[7]), ARGV[8]
local out = {}
if user ~= '' and not CLOSING then
  -- Through the user's own set: costs that user's sessions, not all of them,
  -- and of each only its deadline (ZMSCORE); the page is picked with a
  -- heap of the limit + 1 soonest (not a sort of them all), and only its
  -- sessions are read. A user of 100,000 sessions costs tens of ms, not the
  -- seconds that reading and sorting every one took (and stalled Redis).
  local want, heap, n = limit + 1, {}, 0
  -- The heap's top is its latest candidate: (deadline, handle) order.
  local function later(a, b) return a[1] > b[1] or (a[1] == b[1] and a[2] > b[2]) end
  local function up(i)
    while i > 1 do
      local p = math.floor(i / 2)
      if not later(heap[i], heap[p]) then return end
      heap[i], heap[p] = heap[p], heap[i]
      i = p
    end
  end
  local function down(i)
    while true do
      local l, r, top = 2 * i, 2 * i + 1, i
      if l <= n and later(heap[l], heap[top]) then top = l end
      if r <= n and later(heap[r], heap[top]) then top = r end
      if top == i then return end
      heap[i], heap[top] = heap[top], heap[i]
      i = top
    end
  end
  local members = redis.call('SMEMBERS', user_key(user))
  -- Deadlines a chunk at a time (ZMSCORE), not one call each.
  for first = 1, #members, 512 do
    local hs = {}
    for i = first, math.min(first + 511, #members) do hs[#hs + 1] = handle_of(members[i]) end
    local scores = redis.call('ZMSCORE', K_DUE, unpack(hs))
    for i, h in ipairs(hs) do
      local score = scores[i] and tonumber(scores[i])
      if score and score > NOW and (cs == nil or score > cs or (score == cs and h > ch)) then
        if n < want then
          n = n + 1
          heap[n] = { score, h }
          up(n)
        else
          -- Sooner than the latest kept: it takes that one's place.
          local top = heap[1]
          if score < top[1] or (score == top[1] and h < top[2]) then
            top[1], top[2] = score, h
            down(1)
          end
        end
      end
    end
  end
  table.sort(heap, function(a, b) return later(b, a) end)
  for _, c in ipairs(heap) do
    local s = load(c[2])
    if s and s.user == user then table.insert(out, { s = s, score = c[1] }) end
  end
elseif user ~= '' then
  -- A closing instant has passed and not every session it ends has been
  -- claimed yet (a moment): read every session of the user, as `due` needs.
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
