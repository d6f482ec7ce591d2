-- Deletes exactly the acked entries, as XDEL of the same ids would, but cheaper: the
-- run of acked entries at the head of the stream goes with one XTRIM, the rest by XDEL.
-- XDEL costs the server a scan of the entry's stream node for every id; XTRIM drops
-- whole nodes. Only ids in the batch are ever deleted, so entries written before the
-- group existed, skipped by XGROUP SETID, read with NOACK or acked without deletion by
-- another client all stay.
--
-- KEYS[1]: the stream. ARGV: the acked ids, as the server wrote them.
-- Returns how many entries the trim removed.

local stream = KEYS[1]
local acked, unmatched = {}, 0
for _, id in ipairs(ARGV) do
  if not acked[id] then
    acked[id] = true
    unmatched = unmatched + 1
  end
end

-- Walk the head of the stream while its entries are acked ids, in growing steps so a
-- head that is not acked costs one small read.
local head, start, step = 0, '-', math.min(unmatched + 1, 16)
while unmatched > 0 do
  local entries = redis.call('XRANGE', stream, start, '+', 'COUNT', step)
  local walked = 0
  for _, entry in ipairs(entries) do
    local id = entry[1]
    if not acked[id] then
      break
    end
    acked[id] = nil
    unmatched = unmatched - 1
    walked = walked + 1
  end
  head = head + walked
  if walked < #entries or #entries < step then
    break
  end
  start = '(' .. entries[#entries][1]
  step = math.min(unmatched + 1, step * 4)
end

-- The `head` oldest entries are exactly acked ones: keeping the newest rest trims them.
if head > 0 then
  redis.call('XTRIM', stream, 'MAXLEN', '=', redis.call('XLEN', stream) - head)
end

local rest = {}
for id in pairs(acked) do
  rest[#rest + 1] = id
end
-- unpack() is bounded by Lua's C stack: delete in slices.
for first = 1, #rest, 1000 do
  redis.call('XDEL', stream, unpack(rest, first, math.min(first + 999, #rest)))
end
return head
