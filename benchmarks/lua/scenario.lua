-- One wrk scenario, described by environment variables (set by benchmarks/run.py):
--   BENCH_METHOD, BENCH_PATH      the request line
--   BENCH_HEADERS                 "Name: value" lines, separated by "\n"
--   BENCH_BODY                    a fixed body, or a template in which {1}, {2}... are the
--                                 space-separated fields of one line of BENCH_LINES
--   BENCH_LINES                   a file of one-use values (codes, refresh tokens): each request
--                                 takes the next line; the threads split the file between them
--   BENCH_THREADS                 wrk's -t, to split the lines
--   BENCH_RESULT                  where done() writes the figures as JSON
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local template = os.getenv("BENCH_BODY")
local lines_file = os.getenv("BENCH_LINES")

local headers = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  headers[name] = value
end

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local values = nil
local next_value = 1
local exhausted = 0

function init(args)
  if lines_file then
    local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
    values = {}
    local index = 0
    for line in io.lines(lines_file) do
      if index % threads == id then
        local fields = {}
        for field in string.gmatch(line, "%S+") do fields[#fields + 1] = field end
        values[#values + 1] = fields
      end
      index = index + 1
    end
  end
  if not values then
    req = wrk.format(method, path, headers, template)
  end
end

function request()
  if not values then
    return req
  end
  local fields = values[next_value]
  if not fields then
    -- Out of one-use values: send the last again (refused, so it counts as an error).
    fields = values[#values]
  end
  next_value = next_value + 1
  local body = string.gsub(template, "{(%d+)}", function(n) return fields[tonumber(n)] end)
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_RESULT"), "w"))
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
  out:close()
end
