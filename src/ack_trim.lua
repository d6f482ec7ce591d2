-- Acks ids of one stream, then deletes them, leaving the stream as XACK + XDEL would.
-- XDEL costs the server a scan of the entry's stream node for every id; XTRIM MINID
-- drops whole nodes. So the acked prefix of the stream (everything below the group's
-- oldest unacked entry) goes by one XTRIM, and only the ids above it by XDEL.
--
-- KEYS[1]: the stream. ARGV[1]: the group. ARGV[2..]: ids, ascending.
-- Returns the number of ids acked.

local stream, group = KEYS[1], ARGV[1]
-- unpack() is bounded by the Lua C stack.
local CHUNK = 4000

local function ack(first, last)
  local acked = 0
  for from = first, last, CHUNK do
    local to = math.min(from + CHUNK - 1, last)
    acked = acked + redis.call('XACK', stream, group, unpack(ARGV, from, to))
  end
  return acked
end

local function delete(first, last)
  for from = first, last, CHUNK do
    local to = math.min(from + CHUNK - 1, last)
    redis.call('XDEL', stream, unpack(ARGV, from, to))
  end
end

-- Ids compare as two unbounded decimals: by length, then by digits.
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms, seq
end

local function less_digits(a, b)
  return #a < #b or (#a == #b and a < b)
end

local function less(a, b)
  local a_ms, a_seq = parts(a)
  local b_ms, b_seq = parts(b)
  if a_ms ~= b_ms then
    return less_digits(a_ms, b_ms)
  end
  return less_digits(a_seq, b_seq)
end

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
  local ms, seq = parts(id)
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

-- Every entry below this id has been delivered to the group and acked.
local function oldest_unacked()
  local pending = redis.pcall('XPENDING', stream, group)
  if pending.err then
    return nil
  end
  if pending[1] > 0 then
    return pending[2]
  end
  local last = last_delivered()
  return last and successor(last)
end

-- The first index in ARGV[first..last] whose id is not below `bound`.
local function first_not_below(bound, first, last)
  local low, high = first, last + 1
  while low < high do
    local middle = math.floor((low + high) / 2)
    if less(ARGV[middle], bound) then
      low = middle + 1
    else
      high = middle
    end
  end
  return low
end

local acked = ack(2, #ARGV)
local keep_from = oldest_unacked()
local first_kept = 2
if keep_from then
  redis.call('XTRIM', stream, 'MINID', keep_from)
  first_kept = first_not_below(keep_from, 2, #ARGV)
end
delete(first_kept, #ARGV)
return acked
