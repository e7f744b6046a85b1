-- Helps Redis finish growing the sessions hash and the deadline sorted set
-- (see rehash.rs). Each keeps a hash table that doubles when its count
-- passes its size, and Redis moves the entries to the new table a bucket at
-- a time, one step per lookup of that key. So when the count of sessions
-- passes a power of two (from 65,536 up), that many lookups of a field that
-- is never there finish the move. ARGV 5 is how many to make now (0: only
-- note a new power), ARGV 6 the calling node: one node at a time does them,
-- holding a lease of a second in the meta hash, which also keeps how many
-- are left. Returns { left, 1 when this call made lookups }.
local steps, node = tonumber(ARGV[5]), ARGV[6]
local n = redis.call('HLEN', K_SESS)
local power = 65536
if n <= power then return { 0, 0 } end
while power * 2 < n do power = power * 2 end
local helped = tonumber(redis.call('HGET', K_META, 'rehash_power') or '0')
local left = tonumber(redis.call('HGET', K_META, 'rehash_left') or '0')
-- Far below what was helped, the tables have shrunk (Redis 7.0 shrinks one
-- below a tenth full, 7.4 below an eighth): growing again is new work.
if n * 5 < helped then helped = 0 end
if power > helped then
  helped, left = power, power
  redis.call('HSET', K_META, 'rehash_power', ms(helped), 'rehash_left', ms(left))
end
if left <= 0 or steps <= 0 then return { left, 0 } end
local owner = redis.call('HMGET', K_META, 'rehash_owner', 'rehash_until')
if owner[1] and owner[1] ~= node and tonumber(owner[2]) > NOW then return { left, 0 } end
local now = math.min(steps, left)
for _ = 1, now do
  redis.call('HEXISTS', K_SESS, '')
  redis.call('ZSCORE', K_DUE, '')
end
left = left - now
redis.call('HSET', K_META, 'rehash_left', ms(left), 'rehash_owner', node,
  'rehash_until', ms(NOW + 1000))
return { left, 1 }
