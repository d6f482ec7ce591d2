-- Replaces the record of a queue's shard count and layout KEYS[1] with ARGV[2] only if
-- it still holds ARGV[1] ('' for none), so two operators growing at once cannot both
-- win. Returns what the key held ('' for nothing).
local recorded = redis.call('GET', KEYS[1]) or ''
if recorded == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2])
end
return recorded
