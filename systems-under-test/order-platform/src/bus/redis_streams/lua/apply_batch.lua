-- At-least-once and at-most-once: the counter changes of a batch, input after input in
-- order, each input's changes all or none; stops at the first input whose changes would
-- take a counter below its floor (another instance moved it since the batch read it).
--
-- KEYS: the change hashes, input after input.
-- ARGV: [1] number of inputs, then per input: nc, then field, delta, floor ('' = none)
--       per change.
-- Returns the number of inputs applied.
local n = tonumber(ARGV[1])
local k, a = 1, 2
for i = 1, n do
  local nc = tonumber(ARGV[a])
  for j = 0, nc - 1 do
    local field, delta, floor = ARGV[a + 1 + 3 * j], ARGV[a + 2 + 3 * j], ARGV[a + 3 + 3 * j]
    if floor ~= '' then
      local current = tonumber(redis.call('HGET', KEYS[k + j], field) or '0')
      if current + tonumber(delta) < tonumber(floor) then
        return i - 1
      end
    end
  end
  for j = 0, nc - 1 do
    redis.call('HINCRBY', KEYS[k + j], ARGV[a + 1 + 3 * j], ARGV[a + 2 + 3 * j])
  end
  k = k + nc
  a = a + 1 + 3 * nc
end
return n
