-- Exactly-once processing of a batch of stream entries, input after input in order,
-- each input atomically: processed-id check, counter changes (guarded by their floors),
-- output XADDs, XACK, processed-id record. An input already processed is acknowledged
-- and nothing else. Stops at the first input whose changes would cross a floor, or that
-- was processed meanwhile (by another instance) although its decision changed counters
-- the rest of the batch was decided on: it and everything after it stay pending, to be
-- decided again.
--
-- KEYS: [1] processed-id set, then per input: its stream, its change hashes, its output
--       streams.
-- ARGV: [1] group, [2] number of inputs, then per input: entry id, input id ('' = no
--       dedup), nc, no, then field, delta, floor ('' = none) per change, then key,
--       payload per output.
-- Returns {inputs done (committed or acknowledged as duplicates), duplicates}.
local processed, group, n = KEYS[1], ARGV[1], tonumber(ARGV[2])
local k, a, dups = 2, 3, 0
for i = 1, n do
  local input, entry, input_id = KEYS[k], ARGV[a], ARGV[a + 1]
  local nc, no = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local ck, ca = k + 1, a + 4
  local ok, oa = ck + nc, ca + 3 * nc
  if input_id ~= '' and redis.call('SISMEMBER', processed, input_id) == 1 then
    if nc > 0 then
      return {i - 1, dups}
    end
    redis.call('XACK', input, group, entry)
    dups = dups + 1
  else
    for j = 0, nc - 1 do
      local floor = ARGV[ca + 3 * j + 2]
      if floor ~= '' then
        local current = tonumber(redis.call('HGET', KEYS[ck + j], ARGV[ca + 3 * j]) or '0')
        if current + tonumber(ARGV[ca + 3 * j + 1]) < tonumber(floor) then
          return {i - 1, dups}
        end
      end
    end
    for j = 0, nc - 1 do
      redis.call('HINCRBY', KEYS[ck + j], ARGV[ca + 3 * j], ARGV[ca + 3 * j + 1])
    end
    for j = 0, no - 1 do
      redis.call('XADD', KEYS[ok + j], '*', 'key', ARGV[oa + 2 * j], 'payload', ARGV[oa + 2 * j + 1])
    end
    redis.call('XACK', input, group, entry)
    if input_id ~= '' then
      redis.call('SADD', processed, input_id)
    end
  end
  k = ok + no
  a = oa + 2 * no
end
return {n, dups}
