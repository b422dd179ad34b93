-- Applies counter changes atomically, or none if any would cross its floor.
-- KEYS[i]: the hash of change i.  ARGV: field, delta, floor ('' = none), per change.
-- Returns 1 when applied, 0 on conflict.
for i = 1, #KEYS do
  local floor = ARGV[3 * i]
  if floor ~= '' then
    local current = tonumber(redis.call('HGET', KEYS[i], ARGV[3 * i - 2]) or '0')
    if current + tonumber(ARGV[3 * i - 1]) < tonumber(floor) then
      return 0
    end
  end
end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], ARGV[3 * i - 2], ARGV[3 * i - 1])
end
return 1
