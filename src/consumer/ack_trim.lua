-- Deletes exactly the acked entries, as XDEL of the same ids would, but cheaper: acked
-- entries at the head of the stream go with one XTRIM, the rest by XDEL. XDEL costs the
-- server a scan of the entry's stream node for every id; XTRIM drops whole nodes.
--
-- The client sends the acked ids in id order, cut into runs: ids it read in one reply as
-- adjacent stream entries (no entry can appear between them later, as ids only grow).
-- So the script checks only where runs meet the stream: that the stream starts with the
-- first run, and that each next run starts right after the one before. It reads one
-- entry per run, never the entries inside one. Only ids of the batch are ever deleted.
--
-- KEYS[1]: the stream. ARGV[1]: the runs' lengths, comma-separated. ARGV[2..]: the ids.
-- Returns how many of the ids were in the trimmed head.

local stream = KEYS[1]
local LAST_POSSIBLE = '18446744073709551615-18446744073709551615'

local function first_entry_from(start)
  local entries = redis.call('XRANGE', stream, start, '+', 'COUNT', 1)
  return entries[1] and entries[1][1]
end

local function first_entry_after(id)
  -- Nothing can follow the largest id, and '(' of it is an error.
  if id == LAST_POSSIBLE then
    return nil
  end
  return first_entry_from('(' .. id)
end

local next_id = first_entry_from('-')
local first = 2
local trimmed = 0
for length in string.gmatch(ARGV[1], '%d+') do
  if next_id ~= ARGV[first] then
    break
  end
  local last = ARGV[first + tonumber(length) - 1]
  first = first + tonumber(length)
  trimmed = trimmed + tonumber(length)
  next_id = first_entry_after(last)
  if not next_id then
    break
  end
end

if trimmed > 0 then
  if next_id then
    redis.call('XTRIM', stream, 'MINID', next_id)
  else
    redis.call('XTRIM', stream, 'MAXLEN', 0)
  end
end
-- unpack() is bounded by Lua's C stack: delete in slices.
for i = first, #ARGV, 1000 do
  redis.call('XDEL', stream, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return trimmed
