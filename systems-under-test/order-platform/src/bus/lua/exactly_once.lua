-- Exactly-once processing of one stream entry, atomically:
-- processed-id check, counter changes (guarded), output XADDs, XACK, processed-id record.
--
-- KEYS: [1] processed-id set, [2] input stream, [3 .. 2+nc] change hashes,
--       [3+nc .. 2+nc+no] output streams
-- ARGV: [1] group, [2] entry id, [3] input id ('' = no dedup), [4] nc, [5] no,
--       then field, delta, floor per change, then key, payload per output.
-- Returns 1 committed, 0 conflict (nothing applied, entry still pending), 2 duplicate.
local processed, input = KEYS[1], KEYS[2]
local group, entry, input_id = ARGV[1], ARGV[2], ARGV[3]
local nc, no = tonumber(ARGV[4]), tonumber(ARGV[5])

if input_id ~= '' and redis.call('SISMEMBER', processed, input_id) == 1 then
  redis.call('XACK', input, group, entry)
  return 2
end

local a = 6
for i = 1, nc do
  local floor = ARGV[a + 2]
  if floor ~= '' then
    local current = tonumber(redis.call('HGET', KEYS[2 + i], ARGV[a]) or '0')
    if current + tonumber(ARGV[a + 1]) < tonumber(floor) then
      return 0
    end
  end
  a = a + 3
end

a = 6
for i = 1, nc do
  redis.call('HINCRBY', KEYS[2 + i], ARGV[a], ARGV[a + 1])
  a = a + 3
end
for j = 1, no do
  redis.call('XADD', KEYS[2 + nc + j], '*', 'key', ARGV[a], 'payload', ARGV[a + 1])
  a = a + 2
end
redis.call('XACK', input, group, entry)
if input_id ~= '' then
  redis.call('SADD', processed, input_id)
end
return 1
