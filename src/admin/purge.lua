-- Deletes a dead-letter stream and returns how many entries it had, in one step, so a
-- letter added meanwhile is either counted or kept.
local length = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return length
