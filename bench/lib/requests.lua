-- wrk script: replays pre-built raw HTTP/1.1 requests from a file, each once
-- (records are "<byte length>\n<request bytes>"), starting at a given index,
-- and prints one JSON line of results when done. With a limit, the thread stops
-- once it has taken that many requests and prints BENCH_LIMIT, on which
-- load.ts interrupts wrk (SIGINT) so that the reported duration ends there too:
-- wrk itself would sleep out the whole -d.
-- usage: wrk -t1 -c32 -d10s -s requests.lua URL -- <file> <start index (0-based)> [limit]
local requests = {}
local index = 0
local limit = 0
-- globals, not locals: done() reads them from each thread with thread:get()
sent = 0
wrapped = 0

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local pos = 1
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    requests[#requests + 1] = data:sub(newline + 1, newline + length)
    pos = newline + 1 + length
  end
  data = nil
  index = tonumber(args[2] or "0") % #requests
  limit = tonumber(args[3] or "0")
end

function request()
  index = index + 1
  if index > #requests then
    index = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  if sent == limit then
    -- Other connections may still take a request in this loop turn: they count in sent, and are distinct.
    io.write("\nBENCH_LIMIT\n")
    io.flush()
    wrk.thread:stop()
  end
  return requests[index]
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local sentTotal, wrappedTotal = 0, 0
  for _, thread in ipairs(threads) do
    sentTotal = sentTotal + (thread:get("sent") or 0)
    wrappedTotal = wrappedTotal + (thread:get("wrapped") or 0)
  end
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"non2xx":%d,"errors":%d,"sent":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    sentTotal, wrappedTotal))
end
