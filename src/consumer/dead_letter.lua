-- Moves one entry to its dead-letter stream, all or nothing: the XADD comes first, and an
-- error stops the script, so an entry is acked and deleted only once its copy is written
-- (a WRONGTYPE dead-letter key or OOM leaves it pending).
--
-- KEYS[1]: the shard stream, KEYS[2]: its dead-letter stream (same hash slot).
-- ARGV: group, id, then the dead letter's fields and values.

local stream, dead_letters = KEYS[1], KEYS[2]
local group, id = ARGV[1], ARGV[2]
redis.call('XADD', dead_letters, '*', unpack(ARGV, 3))
redis.call('XACK', stream, group, id)
redis.call('XDEL', stream, id)
return 1
