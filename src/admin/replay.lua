-- Moves dead letter ARGV[1] of KEYS[2] back into its shard stream KEYS[1] as a fresh
-- entry with its body and headers (fields `h:NAME`, after `m` as producers write them):
-- a new id and a fresh delivery count. Returns 0 and writes nothing when the letter is
-- gone already (replayed or purged by someone else) or has no body. XADD comes before
-- XDEL because a script is not rolled back when a command fails: the only copy must not
-- be deleted before it was added.
local found = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #found == 0 then
  return 0
end
local fields = found[1][2]
local entry = nil
local headers = {}
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'm' then
    if entry == nil then
      entry = {'m', fields[i + 1]}
    end
  elseif string.sub(name, 1, 2) == 'h:' then
    headers[#headers + 1] = name
    headers[#headers + 1] = fields[i + 1]
  end
end
if entry == nil then
  return 0
end
for i = 1, #headers do
  entry[#entry + 1] = headers[i]
end
redis.call('XADD', KEYS[1], '*', unpack(entry))
redis.call('XDEL', KEYS[2], ARGV[1])
return 1
