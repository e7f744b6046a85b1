-- The expiry driver's one step: announces due coalesced touches, ends up to
-- ARGV 5 sessions whose time is up, and walks the closing-time pass.
-- Every node runs it; Redis runs one script at a time, so each session is
-- claimed exactly once. Returns { ended, more (0|1), next wake ms or -1, now }.
local max = tonumber(ARGV[5])
local ended = 0
-- Ends are batched: one HDEL, one ZREM and one HINCRBY per reason for the
-- whole claim, so a burst of expiries costs Redis as little as it can.
local gone, counts = {}, {}
local function claim(s, r, d)
  if s.pend == 1 then redis.call('ZREM', K_TOUCH, s.h) end
  redis.call('SREM', user_key(s.user), member(s.h))
  emit('expired', s, 'expired', r, d, nil)
  table.insert(gone, s.h)
  counts[r] = (counts[r] or 0) + 1
  ended = ended + 1
end
local function settle()
  for i = 1, #gone, 500 do
    local part = { unpack(gone, i, math.min(i + 499, #gone)) }
    redis.call('HDEL', K_SESS, unpack(part))
    redis.call('ZREM', K_DUE, unpack(part))
  end
  for r, n in pairs(counts) do redis.call('HINCRBY', K_META, 'expired_' .. r, n) end
  gone, counts = {}, {}
end
for _, h in ipairs(redis.call('ZRANGE', K_TOUCH, '-inf', NOW, 'BYSCORE', 'LIMIT', 0, max)) do
  local s = load(h)
  if s and announce_due_touch(s) then store(s) else redis.call('ZREM', K_TOUCH, h) end
end
for _, h in ipairs(redis.call('ZRANGE', K_DUE, '-inf', NOW, 'BYSCORE', 'LIMIT', 0, max)) do
  local s = load(h)
  if not s then
    redis.call('ZREM', K_DUE, h)
  else
    local r, d = due(s)
    if r then
      claim(s, r, d)
    else
      redis.call('ZADD', K_DUE, (own_deadline(s)), h)
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
  local chunk = redis.call('ZRANGE', K_DUE, start, start + budget - 1, 'WITHSCORES')
  local last_score, last_h = nil, nil
  for i = 1, #chunk, 2 do
    local s = load(chunk[i])
    if s then
      local r, d = due(s)
      if r then
        claim(s, r, d)
      else
        last_score, last_h = chunk[i + 1], chunk[i]
      end
    end
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
