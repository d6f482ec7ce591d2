-- Hands entries back for redelivery: each id still pending under this consumer gets
-- the given idle time (XCLAIM ... IDLE to the same consumer, RETRYCOUNT unchanged), so
-- claimers see it as abandoned; ids acked already or claimed by another consumer are
-- left alone. The ownership check and the XCLAIM run as one step, so a claim by
-- another consumer cannot slip in between.
--
-- KEYS[1]: the shard stream. ARGV: group, consumer, idle (ms), then the ids.
-- Returns the ids that were still pending here.

local stream = KEYS[1]
local group, consumer, idle = ARGV[1], ARGV[2], ARGV[3]
local released = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local row = redis.call('XPENDING', stream, group, id, id, 1, consumer)
  if #row == 1 then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'IDLE', idle, 'RETRYCOUNT', row[1][4], 'JUSTID')
    released[#released + 1] = id
  end
end
return released
