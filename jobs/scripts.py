"""The Lua scripts of the job store: state changes that must happen once, atomic in Redis.

A job record is a Redis hash (``jobs.keys.job_key``); these scripts count a chunk once,
set fields only on a job that still exists, move a job between states by compare-and-set,
admit a job within the quotas in the same step that stores it, and make a job final in the
same step that records the completion notices it owes.
"""

from __future__ import annotations

# Count a chunk once: returns -1 when the job is gone or not running, else the number of
# chunks counted so far (including this one, whether or not it was counted just now).
COUNT_CHUNK_LUA = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'rows_done', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rows_failed', ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  redis.call('ZADD', KEYS[3], 'XX', ARGV[5], ARGV[6])
end
return redis.call('SCARD', KEYS[2])
"""

# Set fields only on a job that still exists (a deleted job must not reappear half-made).
UPDATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# Move a job from one of the allowed states to a new one, once; extra fields are set with it.
TRANSITION_LUA = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
local allowed = false
local split = 0
for i = 2, #ARGV do
  if ARGV[i] == '|' then split = i break end
  if ARGV[i] == current then allowed = true end
end
if not allowed then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = split + 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"""


# Admit a job within the quotas: the owner's and the key's sets of active jobs are pruned of
# jobs no longer queued or running, then counted; only if both are under their limits is the
# job created (ARGV[1] = 1) or just judged admissible (ARGV[1] = 0). Returns {verdict, count}:
# verdict 1 admitted, 0 over the owner's limit, -1 over the key's.
ADMIT_LUA = """
local function live(set)
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    local status = redis.call('HGET', ARGV[4] .. id, 'status')
    if status == 'queued' or status == 'running' then n = n + 1 else redis.call('SREM', set, id) end
  end
  return n
end
local mine = live(KEYS[4])
if mine >= tonumber(ARGV[2]) then return {0, mine} end
local all = live(KEYS[5])
if all >= tonumber(ARGV[3]) then return {-1, all} end
if ARGV[1] == '0' then return {1, mine} end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
for i = 4, 5 do
  redis.call('SADD', KEYS[i], ARGV[7])
  redis.call('EXPIRE', KEYS[i], ARGV[8])
end
return {1, mine + 1}
"""


# A final state and the notices it owes, in one step (``jobs.outbox``). The transition of
# TRANSITION_LUA, with four arguments before its own: when to look at the owed notices
# (ARGV[1]), the owed members for the webhook (ARGV[2], owed if the job names one) and
# for SNS (ARGV[3], '' when no topic is configured), and the record fields the event keeps
# (ARGV[4], space-separated). The outbox is written before the record: a write that fails
# raises before the status changed, so the status and what it owes change together or not.
FINISH_LUA = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
local allowed, split = false, 0
for i = 6, #ARGV do
  if ARGV[i] == '|' then split = i break end
  if ARGV[i] == current then allowed = true end
end
if not allowed then return 0 end
local new = {status = ARGV[5]}
for i = split + 1, #ARGV, 2 do new[ARGV[i]] = ARGV[i + 1] end
local url = new['webhook_url'] or redis.call('HGET', KEYS[1], 'webhook_url')
local owed = {}
if url and url ~= '' then owed[#owed + 1] = ARGV[2] end
if ARGV[3] ~= '' then owed[#owed + 1] = ARGV[3] end
if #owed > 0 then
  local event = {}
  for name in string.gmatch(ARGV[4], '%S+') do
    local value = new[name] or redis.call('HGET', KEYS[1], name)
    if value then event[name] = value end
  end
  local body = cjson.encode(event)
  for _, member in ipairs(owed) do
    redis.call('ZADD', KEYS[2], ARGV[1], member)
    redis.call('HSET', KEYS[3], member, body)
  end
end
redis.call('HSET', KEYS[1], 'status', ARGV[5])
for i = split + 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
