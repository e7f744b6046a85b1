-- ARGV 5 handle. The live session's view, or '' when there is none.
local s = live(ARGV[5], nil)
if not s then return '' end
return cjson.encode(view(s, 'active'))
