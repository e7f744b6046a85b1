-- Helps Redis finish growing the sessions hash and the deadline sorted set.
-- Each keeps a hash table that doubles when it fills, and Redis moves the
-- entries to the new table a bucket at a time, one step per lookup of that
-- key; for its own keyspace it also does this in the background, but never
-- for the tables inside a hash or sorted set. A table of a million entries
-- then takes about a million lookups to finish, and until it does every
-- lookup pays for a step and looks in both tables: a burst of expiries that
-- lands there costs a quarter more. So when the count of sessions passes a
-- power of two (from 65,536 up) the nodes make that many lookups of a field
-- that is never there, a few thousand per call (ARGV 5; 0 only looks),
-- sharing the work through the meta hash. Returns how many are left.
local steps = tonumber(ARGV[5])
local n = redis.call('HLEN', K_SESS)
local power = 65536
if n <= power then return 0 end
while power * 2 < n do power = power * 2 end
local helped = tonumber(redis.call('HGET', K_META, 'rehash_power') or '0')
local left = tonumber(redis.call('HGET', K_META, 'rehash_left') or '0')
-- Far below what was helped, the tables have shrunk: growing again is new work.
if n * 4 < helped then helped = 0 end
if power > helped then
  helped, left = power, power
elseif left <= 0 or steps <= 0 then
  return left
end
local now = math.min(steps, left)
for _ = 1, now do
  redis.call('HEXISTS', K_SESS, '')
  redis.call('ZSCORE', K_DUE, '')
end
left = left - now
redis.call('HSET', K_META, 'rehash_power', ms(helped), 'rehash_left', ms(left))
return left
