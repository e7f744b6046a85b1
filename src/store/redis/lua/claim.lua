-- The expiry driver's one step: announces due coalesced touches, ends up to
-- ARGV 5 sessions whose time is up, and walks the closing-time pass.
-- Every node runs it; Redis runs one function at a time, so each session is
-- claimed exactly once. Returns { ended, more (0|1), next wake ms or -1, now }.
local max = tonumber(ARGV[5])
local ended = 0
-- Ends are batched: one HMGET for the records, one HDEL, one ZREM and one
-- HINCRBY per reason for the whole claim, and all the claim's expiries make
-- one stream entry of their records (`emit_record`), so a burst of
-- expiries costs Redis as little as it can.
-- The user's set keeps the member: whoever reads that set next drops it,
-- each login drops a few, and the set expires with its sessions' last
-- absolute deadline (login.lua).
local gone, touching, counts = {}, {}, {}
-- Ends the session stored as `v` when its time is up (as `due` decides),
-- reading the record without making a table of it. Returns whether it
-- ended, and else its own deadline.
local function end_if_due(h, v)
  local _, _, c, ls, idle, ab, _, pend, attrs = cmsgpack.unpack(v)
  local own, why = deadline_of(c + ls, idle, c + ab)
  local r, d = ended_by(c, own, why)
  if not r then return false, own end
  if pend == 1 then touching[#touching + 1] = h end
  ended = ended + 1
  gone[ended] = h
  counts[r] = (counts[r] or 0) + 1
  -- A record of an earlier version holds its attributes as a table.
  if type(attrs) == 'table' then
    emit('expired', record(h, v), 'expired', r, d)
  else
    emit_record(h, v, r)
  end
  return true
end
-- Runs `command key handles...` 500 handles at a time (Lua's stack is small).
local function in_parts(command, key, handles)
  for i = 1, #handles, 500 do
    redis.call(command, key, unpack(handles, i, math.min(i + 499, #handles)))
  end
end
local settled = 0
local function settle()
  if ended == settled then return end
  local handles = {}
  for i = settled + 1, ended do handles[#handles + 1] = gone[i] end
  in_parts('HDEL', K_SESS, handles)
  in_parts('ZREM', K_DUE, handles)
  in_parts('ZREM', K_TOUCH, touching)
  for r, c in pairs(counts) do redis.call('HINCRBY', K_META, 'expired_' .. r, ms(c)) end
  settled, touching, counts = ended, {}, {}
end
-- The records of `handles`, one HMGET per 500.
local function records(handles)
  local out = {}
  for i = 1, #handles, 500 do
    local part = redis.call('HMGET', K_SESS, unpack(handles, i, math.min(i + 499, #handles)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end
local touches = redis.call('ZRANGE', K_TOUCH, '-inf', ms(NOW), 'BYSCORE', 'LIMIT', '0', ARGV[5])
if #touches > 0 then
  local recs = records(touches)
  for i, h in ipairs(touches) do
    local s = recs[i] and record(h, recs[i])
    if s and announce_due_touch(s) then store(s) else redis.call('ZREM', K_TOUCH, h) end
  end
end
local due_now = redis.call('ZRANGE', K_DUE, '-inf', ms(NOW), 'BYSCORE', 'LIMIT', '0', ARGV[5])
if #due_now > 0 then
  local recs = records(due_now)
  for i, h in ipairs(due_now) do
    if not recs[i] then
      redis.call('ZREM', K_DUE, h)
    else
      local now_ended, d = end_if_due(h, recs[i])
      if not now_ended then redis.call('ZADD', K_DUE, ms(d), h) end
    end
  end
end
settle()
-- A closing instant has passed: every session created before it ends. The
-- walk goes in deadline order from a cursor kept in Redis, so it spans calls;
-- deadlines only move later and sessions created since are kept, so none is missed.
if CLOSING and ended < max then
  local budget = max - ended
  local start = 0
  local cs = redis.call('HGET', K_META, 'close_score')
  if cs then start = rank_after(tonumber(cs), redis.call('HGET', K_META, 'close_handle')) end
  local chunk = redis.call('ZRANGE', K_DUE, ms(start), ms(start + budget - 1), 'WITHSCORES')
  local last_score, last_h = nil, nil
  for i = 1, #chunk, 2 do
    local v = redis.call('HGET', K_SESS, chunk[i])
    if v and not end_if_due(chunk[i], v) then last_score, last_h = chunk[i + 1], chunk[i] end
  end
  -- Settled before the cursor is placed: ended entries leave the ranks.
  settle()
  if #chunk / 2 < budget then
    redis.call('HSET', K_META, 'closed', ms(CLOSING))
    redis.call('HDEL', K_META, 'close_score', 'close_handle')
    CLOSING = nil
  elseif last_h then
    redis.call('HSET', K_META, 'close_score', last_score, 'close_handle', last_h)
  end
end
local more = 0
if ended >= max or CLOSING then more = 1 end
local next = -1
local head = redis.call('ZRANGE', K_DUE, 0, 0, 'WITHSCORES')
if #head > 0 then next = tonumber(head[2]) end
local touch = redis.call('ZRANGE', K_TOUCH, 0, 0, 'WITHSCORES')
if #touch > 0 and (next < 0 or tonumber(touch[2]) < next) then next = tonumber(touch[2]) end
if CLOSE_NEXT and (next < 0 or CLOSE_NEXT < next) then next = CLOSE_NEXT end
return { ended, more, next, NOW }
