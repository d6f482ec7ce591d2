-- Moves dead letter ARGV[1] of KEYS[2] back into its shard stream KEYS[1] as a fresh
-- entry with just its body: a new id and a fresh delivery count. Returns 0 and writes
-- nothing when the letter is gone already (replayed or purged by someone else) or has
-- no body. XADD comes before XDEL because a script is not rolled back when a command
-- fails: the only copy must not be deleted before it was added.
local found = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #found == 0 then
  return 0
end
local fields = found[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'm' then
    redis.call('XADD', KEYS[1], '*', 'm', fields[i + 1])
    redis.call('XDEL', KEYS[2], ARGV[1])
    return 1
  end
end
return 0
