-- Ends one session. ARGV 5 handle, 6 presented verifier hash ('' for an
-- operator's revoke), 7 'logged_out' | 'revoked', 8 actor ('' for none).
local hash = ARGV[6]
if hash == '' then hash = nil end
local s = live(ARGV[5], hash)
if not s then return '!gone' end
announce_due_touch(s)
local actor = ARGV[8]
if actor == '' then actor = nil end
finish(s, ARGV[7], ARGV[7], nil, nil, actor, ARGV[7])
return 'ok'
