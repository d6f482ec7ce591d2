-- Trims the acked prefix of a stream: every entry below the group's oldest unacked one
-- (pending, or not yet delivered) has been acked, so one XTRIM MINID deletes them all.
-- XDEL costs the server a scan of the entry's stream node for every id; XTRIM drops
-- whole nodes. The client then XDELs only its acked ids at or above the returned bound.
--
-- KEYS[1]: the stream. ARGV[1]: the group.
-- Returns the oldest unacked id (entries below it are gone), or false when the group or
-- the stream does not exist.

local stream, group = KEYS[1], ARGV[1]

-- Digits of an id part, plus one, at any length (sequence numbers are 64-bit).
local function increment(digits)
  local i = #digits
  while i > 0 and string.sub(digits, i, i) == '9' do
    i = i - 1
  end
  if i == 0 then
    return '1' .. string.rep('0', #digits)
  end
  local bumped = string.char(string.byte(digits, i) + 1)
  return string.sub(digits, 1, i - 1) .. bumped .. string.rep('0', #digits - i)
end

local function successor(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq == '18446744073709551615' then
    return increment(ms) .. '-0'
  end
  return ms .. '-' .. increment(seq)
end

local function last_delivered()
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, last
    for i = 1, #info, 2 do
      if info[i] == 'name' then
        name = info[i + 1]
      elseif info[i] == 'last-delivered-id' then
        last = info[i + 1]
      end
    end
    if name == group then
      return last
    end
  end
end

local pending = redis.pcall('XPENDING', stream, group)
if pending.err then
  return false
end
local oldest_unacked
if pending[1] > 0 then
  oldest_unacked = pending[2]
else
  local last = last_delivered()
  if not last then
    return false
  end
  oldest_unacked = successor(last)
end
redis.call('XTRIM', stream, 'MINID', oldest_unacked)
return oldest_unacked
