-- wrk script: 2,000 USSD sessions interleaved over all connections. Every connection keeps its share
-- of the sessions open and advances them round-robin, one hop each: so consecutive hops of a
-- connection belong to different sessions, as on a real aggregator link. BENCH_STEPS is the
-- session's transcript, comma-separated (default: dial, one menu option, back: ",7,7*0").
-- A finished session is replaced by a new one with a new phone, so the per-phone rate limit never
-- trips. BENCH_DELAY_MS paces requests for the latency run.
local steps = {}
for step in ((os.getenv("BENCH_STEPS") or ",7,7*0") .. ","):gmatch("([^,]*),") do
  steps[#steps + 1] = step
end
local total_sessions = tonumber(os.getenv("BENCH_SESSIONS") or "2000")
local threads = tonumber(os.getenv("BENCH_THREADS") or "4")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local per_thread = math.max(1, math.floor(total_sessions / threads))
local counter = 0
local thread_number = 0
local threads_seen = 0
local tag = ""

function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("thread_number", threads_seen)
end

function init(args)
  tag = tostring(os.time()) .. tostring(math.random(1000, 9999))
end

local function encode(s)
  return (s:gsub("[^%w]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local service = encode("*384*123#")

request = function()
  local slot = counter % per_thread
  local round = math.floor(counter / per_thread)
  local step = round % #steps
  local generation = math.floor(round / #steps)
  counter = counter + 1
  local session = generation * per_thread + slot
  local phone = 710000000 + (thread_number * 250000 + session) % 9000000
  local body = "sessionId=B" .. thread_number .. "x" .. session .. "r" .. tag
    .. "&serviceCode=" .. service
    .. "&phoneNumber=" .. encode("+254" .. phone)
    .. "&networkCode=63902&text=" .. encode(steps[step + 1])
  return wrk.format("POST", "/ussd/africastalking", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
