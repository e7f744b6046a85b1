-- Shared by every sessiontop function. This is the top of one Redis Function
-- library (see scripts.rs): Redis runs it once when it loads the library, so
-- the helpers below are made once, not on every call.
--
-- KEYS: 1 meta hash (seq, instance, counters, the closing-time walk's
-- cursor `close_*`, the table-growth help `rehash_*`), 2 sessions hash (handle ->
-- packed record), 3 deadline zset (handle by its own deadline), 4 coalesced
-- touch zset (handle by when its `touched` event is due), 5 event stream.
-- ARGV: 1 key prefix (for per-user sets), 2 closing instants (comma separated,
-- around now; empty when there is no closing time), 3 touch event interval
-- in ms, 4 events kept in the stream. The operation's own arguments follow
-- (the Redis time after which the call must not start, which the caller
-- appends last, is taken off before: see scripts.rs).
--
-- Time is Redis's own TIME, read once per call by `begin`: no node's clock
-- decides a deadline. The per-call values are upvalues that `begin` sets at
-- the start of every function; Redis runs one function at a time, so no two
-- calls share them.
local K_META, K_SESS, K_DUE, K_TOUCH, K_EV, PREFIX, TOUCH_IV, RETAIN, NOW
-- The last closing instant at or before now, and the first after it.
local CLOSE_PREV, CLOSE_NEXT
-- A closing instant that has passed but has not ended every session yet.
local CLOSING
-- The events of this call (see `emit`): how many, the seq of the first, the
-- events and their sessions' previous seqs.
local EV_N, EV_FIRST, EV, EV_PREV = 0, 0, {}, {}
-- The sessions an expiry claim ended from their stored records (see
-- `emit_record`): how many, their parts, and the closing instant that ended
-- some of them (0 for none).
local EX_N, EX, EX_CLOSING = 0, {}, 0

local function begin(keys, args)
  K_META, K_SESS, K_DUE, K_TOUCH, K_EV = keys[1], keys[2], keys[3], keys[4], keys[5]
  PREFIX, TOUCH_IV, RETAIN = args[1], tonumber(args[3]), args[4]
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  CLOSE_PREV, CLOSE_NEXT, CLOSING = nil, nil, nil
  EV_N, EV, EV_PREV = 0, {}, {}
  EX_N, EX, EX_CLOSING = 0, {}, 0
  if args[2] ~= '' then
    for c in string.gmatch(args[2], '%d+') do
      c = tonumber(c)
      if c <= NOW then CLOSE_PREV = c elseif not CLOSE_NEXT then CLOSE_NEXT = c end
    end
    if CLOSE_PREV and CLOSE_PREV > tonumber(redis.call('HGET', K_META, 'closed') or '0') then
      CLOSING = CLOSE_PREV
    end
  end
end

local function ms(n) return string.format('%d', n) end

local function user_key(user) return PREFIX .. 'u:' .. user end

-- A handle is kept as its 8 raw bytes (the hash field, the sorted-set member
-- and the events' `h`), shown as 16 hex digits, and in a user's set as a
-- decimal integer, so small sets stay intsets. Selectors have 52 random
-- bits, exact in a Lua number.
local HEX = '%02x%02x%02x%02x%02x%02x%02x%02x'
local function hex(h) return string.format(HEX, string.byte(h, 1, 8)) end
local function member(h)
  local a, b, c, d, e, f, g, i = string.byte(h, 1, 8)
  return ms(((((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f) * 256 + g) * 256 + i)
end
local function handle_of(m) return struct.pack('>I8', tonumber(m)) end

-- A record is one packed msgpack string: user, verifier hash, created, then
-- times as offsets from created (shorter), pending-touch flag, attributes,
-- login order, and the seq of the session's newest event (where `get` walks
-- back through its events; 0 in records written before it was kept).
-- The attributes are kept as `encode` writes them (see `attributes`), so
-- a change reads and writes them as one string, never a table.
local attributes
local function record(h, v)
  local user, vh, c, ls, idle, ab, lte, pend, attrs, born, last = cmsgpack.unpack(v)
  -- Records written before attributes were kept encoded hold a table.
  if type(attrs) == 'table' then attrs = attributes(attrs) end
  return { h = h, user = user, vh = vh, created = c, last_seen = c + ls, idle = idle,
           abs = c + ab, lte = c + lte, pend = pend, attrs = attrs, born = born or 0,
           last = last or 0 }
end

local function load(h)
  local v = redis.call('HGET', K_SESS, h)
  if not v then return nil end
  return record(h, v)
end

local function store(s)
  redis.call('HSET', K_SESS, s.h, cmsgpack.pack(s.user, s.vh, s.created, s.last_seen - s.created,
    s.idle, s.abs - s.created, s.lte - s.created, s.pend, s.attrs, s.born, s.last))
end

-- Oldest first: by creation time, then (within one millisecond) by the
-- order the logins happened, which `born` counts cluster-wide.
local function older(a, b)
  if a.created ~= b.created then return a.created < b.created end
  if a.born ~= b.born then return a.born < b.born end
  return a.h < b.h
end

-- A session's own deadline and its reason, from when it was last seen, its
-- idle timeout and its absolute deadline; on a tie the absolute limit is named.
local function deadline_of(last_seen, idle, abs)
  local d = last_seen + idle
  if abs <= d then return abs, 'absolute' end
  return d, 'idle'
end
local function own_deadline(s) return deadline_of(s.last_seen, s.idle, s.abs) end

-- Why and when a session created at `created`, whose own deadline is `d`
-- for reason `r`, ended by now, or nil while it is live.
local function ended_by(created, d, r)
  if CLOSING and created < CLOSING and CLOSING <= d then return 'closing_time', CLOSING end
  if d <= NOW then return r, d end
  return nil
end
local function due(s) return ended_by(s.created, own_deadline(s)) end

-- When the session ends if nothing happens: its own deadline or the next closing.
local function ends(s)
  local e = math.min(s.last_seen + s.idle, s.abs)
  if CLOSE_NEXT and CLOSE_NEXT < e then e = CLOSE_NEXT end
  return e
end

-- An event as one string, so XADD, the stream and every node's XREAD handle
-- one value per event rather than twenty: each part is `<length>:<bytes>`
-- (binary safe), in this order: kind ('' when there was none), reason,
-- actor ('' for none), handle (8 raw bytes), user, state, the numbers, then
-- attribute names and values. The numbers are `#` and nine little-endian
-- 64-bit integers: at, deadline, limit (0: none), created, last seen, idle
-- deadline, absolute deadline, expires, idle timeout. Read by wire.rs.
-- Lua turns a number into text through a floating-point printf, which cost
-- more than the rest of an event, and a `..` chain is one concatenation
-- where a table.concat builds a table first: this way an event costs about
-- half of what decimal numbers joined by table.concat did.
local NUMBERS = '<i8i8i8i8i8i8i8i8i8'
-- `<length>:#` of the numbers: `#` and 9 × 8 bytes. (A library's top runs
-- where `string` and `struct` are not yet reachable, so it is written out.)
local NUMBERS_PREFIX = '73:#'
-- `<length>:` of a value, made once per length.
local PREFIXES = {}
local function prefix_of(n)
  local p = PREFIXES[n]
  if not p then
    p = string.format('%d:', n)
    PREFIXES[n] = p
  end
  return p
end
local function prefix(v) return PREFIXES[#v] or prefix_of(#v) end
-- The attributes' part of an event, from name-value pairs: the record keeps it.
attributes = function(pairs_of)
  local p, i = {}, 0
  for k, v in pairs(pairs_of) do
    p[i + 1], p[i + 2], p[i + 3], p[i + 4] = prefix(k), k, prefix(v), v
    i = i + 4
  end
  return table.concat(p)
end
local function encode(s, state, kind, reason, deadline, actor, limit)
  kind, reason, actor = kind or '', reason or '', actor or ''
  -- A session the closing time ended expired at that instant, as the engine says.
  local expires = reason == 'closing_time' and deadline or ends(s)
  local n = struct.pack(NUMBERS, NOW, deadline or 0, limit or 0, s.created, s.last_seen,
    s.last_seen + s.idle, s.abs, expires, s.idle)
  return prefix(kind) .. kind .. prefix(reason) .. reason .. prefix(actor) .. actor .. '8:' ..
    s.h .. prefix(s.user) .. s.user .. prefix(state) .. state .. NUMBERS_PREFIX .. n .. s.attrs
end

-- Events are numbered by one global seq, and each call appends the events
-- it makes as one stream entry (`flush`, when the call ends; a claim's
-- expiries are a second, see `emit_record`), whose id is the seq of its
-- first event: ids map 1:1 to seqs, and a claim of hundreds of sessions or
-- a batch of touches costs one XADD, and every node's read one entry, not
-- one each. An entry of one event has fields `v` (the
-- event) and `p` (the seq of its session's previous event, 0 for none); an
-- entry of several has `b` (the events, each `<length>:<event>`) and `q`
-- (their `p`s, space separated). The session keeps the seq of its newest
-- event (`s.last`): a session's events are a chain that `get` follows back
-- from the newest. A live session's record is stored after its events are
-- emitted. `e` is the event encoded when the caller has it already.
-- Returns it.
local function emit(kind, s, state, reason, deadline, actor, e, limit)
  e = e or encode(s, state, kind, reason, deadline, actor, limit)
  if EV_N == 0 then EV_FIRST = tonumber(redis.call('HGET', K_META, 'seq') or '0') + 1 end
  EV_N = EV_N + 1
  EV[EV_N], EV_PREV[EV_N] = e, ms(s.last)
  s.last = EV_FIRST + EV_N - 1
  return e
end

-- Where the msgpack string that starts at byte `at` of `v` ends (the
-- index after it): a fixstr, str8, str16 or str32, as cmsgpack packs one.
local function string_end(v, at)
  local b = string.byte(v, at)
  if b < 0xd9 then return at + 1 + b - 0xa0 end
  if b == 0xd9 then return at + 2 + string.byte(v, at + 1) end
  local b1, b2, b3, b4 = string.byte(v, at + 1, at + 4)
  if b == 0xda then return at + 3 + b1 * 256 + b2 end
  return at + 5 + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

-- An expiry claim's `expired` event for a session it ended, made from the
-- session's stored record `v` as it is, less its verifier hash: the
-- claim's sessions make one stream entry of their own, after the call's
-- other events (`flush`), with one field `x`: a head of four little-endian
-- 64-bit integers (the time of the events, the next closing instant and the
-- one that ended sessions, 0 for none, and how many sessions), then per
-- session its reason (`i`dle, `a`bsolute or `c`losing time), its handle (8
-- raw bytes) and its record without the verifier hash (the user, then what
-- follows the hash), `<length>:<record>`. The nodes make the events from it
-- (wire.rs) with the numbers `encode` would write; Redis copies the record
-- instead of unpacking it and encoding an event, which takes 13 to 16% off
-- a claim's time (BENCHMARKS.md). A session is gone from its
-- user's chain once it ends, so `get` never reads one of these.
local REASON_CODE = { idle = 'i', absolute = 'a', closing_time = 'c' }
local EX_HEAD = '<i8i8i8i8'
local function emit_record(h, v, reason)
  if reason == 'closing_time' then EX_CLOSING = CLOSING end
  local user_end = string_end(v, 1)
  local hash_end = string_end(v, user_end)
  local i = EX_N * 5
  EX[i + 1], EX[i + 2], EX[i + 3] = REASON_CODE[reason], h, prefix_of(#v - (hash_end - user_end))
  EX[i + 4], EX[i + 5] = string.sub(v, 1, user_end - 1), string.sub(v, hash_end)
  EX_N = EX_N + 1
end

-- Appends the call's events as one stream entry (and a claim's sessions
-- ended from their records as another, numbered after them), keeping at
-- least RETAIN events before it.
local function flush()
  if EV_N + EX_N == 0 then return end
  if EV_N == 0 then EV_FIRST = tonumber(redis.call('HGET', K_META, 'seq') or '0') + 1 end
  redis.call('HSET', K_META, 'seq', ms(EV_FIRST + EV_N + EX_N - 1))
  local trim = EV_FIRST - tonumber(RETAIN)
  if trim < 1 then trim = 1 end
  if EV_N == 1 then
    redis.call('XADD', K_EV, 'MINID', '~', ms(trim), ms(EV_FIRST) .. '-0',
      'v', EV[1], 'p', EV_PREV[1])
  elseif EV_N > 1 then
    local parts = {}
    for i = 1, EV_N do parts[2 * i - 1], parts[2 * i] = prefix(EV[i]), EV[i] end
    redis.call('XADD', K_EV, 'MINID', '~', ms(trim), ms(EV_FIRST) .. '-0',
      'b', table.concat(parts), 'q', table.concat(EV_PREV, ' ', 1, EV_N))
  end
  if EX_N > 0 then
    redis.call('XADD', K_EV, 'MINID', '~', ms(trim), ms(EV_FIRST + EV_N) .. '-0',
      'x', struct.pack(EX_HEAD, NOW, CLOSE_NEXT or 0, EX_CLOSING, EX_N) .. table.concat(EX))
  end
end

-- A script's answer about one session: when its coalesced `touched` event
-- falls due ('' for none), then the session encoded as an event (its kind
-- is '' when there was none).
local function answer(e, wake)
  return { wake or '', e }
end

local function finish(s, kind, state, reason, deadline, actor, counter, limit)
  redis.call('HDEL', K_SESS, s.h)
  redis.call('ZREM', K_DUE, s.h)
  if s.pend == 1 then redis.call('ZREM', K_TOUCH, s.h) end
  redis.call('SREM', user_key(s.user), member(s.h))
  redis.call('HINCRBY', K_META, counter, '1')
  emit(kind, s, state, reason, deadline, actor, nil, limit)
end

local function expire(s, reason, deadline)
  finish(s, 'expired', 'expired', reason, deadline, nil, 'expired_' .. reason)
end

-- Never coalesce for longer than the session's own idle timeout.
local function touch_interval(s) return math.min(TOUCH_IV, s.idle) end

-- Announces a coalesced touch whose interval has ended (before anything else happens to it).
local function announce_due_touch(s)
  if s.pend == 1 and s.lte + touch_interval(s) <= NOW then
    s.pend = 0
    s.lte = NOW
    redis.call('ZREM', K_TOUCH, s.h)
    emit('touched', s, 'active')
    return true
  end
  return false
end

-- Moves the idle deadline for activity now; true when a `touched` event is due now.
local function mark_seen(s, forced)
  local iv = touch_interval(s)
  if NOW > s.last_seen then s.last_seen = NOW end
  local announce = forced or NOW - s.lte >= iv
  if announce then
    s.lte = NOW
    if s.pend == 1 then
      s.pend = 0
      redis.call('ZREM', K_TOUCH, s.h)
    end
  elseif s.pend ~= 1 then
    s.pend = 1
    redis.call('ZADD', K_TOUCH, ms(s.lte + iv), s.h)
  end
  redis.call('ZADD', K_DUE, ms((own_deadline(s))), s.h)
  return announce
end

-- Activity on live session `s` now: a touch (an operator's, with an actor,
-- is announced at once, never coalesced), or any other request that shows
-- its token. Moves its idle deadline, announces it or leaves it to be
-- announced, and stores the session. Returns the session encoded as an
-- event, and when its coalesced `touched` event falls due (nil for none), so
-- this node's driver is told.
local function seen(s, actor)
  announce_due_touch(s)
  local e
  if mark_seen(s, actor ~= nil) then
    e = emit('touched', s, 'active', nil, nil, actor)
  else
    e = encode(s, 'active')
  end
  store(s)
  if s.pend == 1 then return e, s.lte + touch_interval(s) end
  return e, nil
end

-- Compares two verifier hashes in constant time: every byte is looked at
-- with plain arithmetic, whatever differs (no branch on the data). A hash is
-- 32 bytes, read as eight unsigned 32-bit words (unsigned: reading a signed
-- one branches on its sign) by one C call each, a third of the cost of a
-- byte at a time; any other length goes byte by byte.
local WORDS = '<I4I4I4I4I4I4I4I4'
local function same(a, b)
  if type(a) ~= 'string' or type(b) ~= 'string' or #a ~= #b then return false end
  if #a == 32 then
    local a1, a2, a3, a4, a5, a6, a7, a8 = struct.unpack(WORDS, a)
    local b1, b2, b3, b4, b5, b6, b7, b8 = struct.unpack(WORDS, b)
    local e1, e2, e3, e4 = a1 - b1, a2 - b2, a3 - b3, a4 - b4
    local e5, e6, e7, e8 = a5 - b5, a6 - b6, a7 - b7, a8 - b8
    return e1 * e1 + e2 * e2 + e3 * e3 + e4 * e4 + e5 * e5 + e6 * e6 + e7 * e7 + e8 * e8 == 0
  end
  local x, y = { string.byte(a, 1, -1) }, { string.byte(b, 1, -1) }
  local d = 0
  for i = 1, #x do
    local e = x[i] - y[i]
    d = d + e * e
  end
  return d == 0
end

-- A live, verified session by handle and presented verifier hash, ending it
-- first if its time is up. Returns the session or nil.
local function live(h, hash)
  local s = load(h)
  if not s then return nil end
  if hash ~= nil and not same(s.vh, hash) then return nil end
  local r, d = due(s)
  if r then
    announce_due_touch(s)
    expire(s, r, d)
    return nil
  end
  return s
end

-- The rank of the first deadline entry after (score, handle) in (score, handle) order.
local function rank_after(score, h)
  local lo = redis.call('ZCOUNT', K_DUE, '-inf', '(' .. ms(score))
  local hi = redis.call('ZCOUNT', K_DUE, '-inf', ms(score))
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if redis.call('ZRANGE', K_DUE, ms(mid), ms(mid))[1] > h then hi = mid else lo = mid + 1 end
  end
  return lo
end
