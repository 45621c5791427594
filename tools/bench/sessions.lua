-- wrk script: 2,000 USSD sessions interleaved over all connections. Every connection keeps its share
-- of the sessions open and advances them round-robin, one hop each: so consecutive hops of a
-- connection belong to different sessions, as on a real aggregator link. BENCH_STEPS is the
-- session's transcript, comma-separated (default: dial, one menu option, back: ",7,7*0").
-- Every wrk thread has its own sessions and phones (its number comes from setup()); a finished
-- session is replaced by a new one with a new phone, so the per-phone rate limit never trips.
-- Phones are numbered from BENCH_PHONE_BASE: two runs with the same base dial the same phones in
-- the same order (the second run's callers are repeat callers), a new base gives all-new phones.
-- BENCH_RUN makes session ids unique per run. BENCH_DELAY_MS paces requests for the latency run.
-- BENCH_END_NOTICE=1 follows each session's last hop with Africa's Talking's end-of-session notice
-- (POST /ussd/africastalking/events), as AT sends one after every session.
local steps = {}
for step in ((os.getenv("BENCH_STEPS") or ",7,7*0") .. ","):gmatch("([^,]*),") do
  steps[#steps + 1] = step
end
local total_sessions = tonumber(os.getenv("BENCH_SESSIONS") or "2000")
local threads = tonumber(os.getenv("BENCH_THREADS") or "4")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local phone_base = tonumber(os.getenv("BENCH_PHONE_BASE") or "0")
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local end_notice = os.getenv("BENCH_END_NOTICE") == "1"
local cycle = #steps + (end_notice and 1 or 0)
local per_thread = math.max(1, math.floor(total_sessions / threads))
local counter = 0
local threads_seen = 0

-- Runs in the main Lua state, once per thread: `thread_number` becomes a global of that thread's
-- own state (a `local` of this chunk would hide it: every thread would then send the same hops).
function setup(thread)
  threads_seen = threads_seen + 1
  thread:set("thread_number", threads_seen)
end

local function encode(s)
  return (s:gsub("[^%w]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local service = encode("*384*123#")

request = function()
  local slot = counter % per_thread
  local round = math.floor(counter / per_thread)
  local step = round % cycle
  local generation = math.floor(round / cycle)
  counter = counter + 1
  local session = generation * per_thread + slot
  -- +2547 0000000 .. +2547 29999999: Safaricom's 70x-72x, all valid numbers; 100,000 per thread and run.
  local phone = 700000000 + (phone_base + thread_number * 100000 + session) % 30000000
  local body = "sessionId=B" .. thread_number .. "x" .. session .. "r" .. run
    .. "&serviceCode=" .. service
    .. "&phoneNumber=" .. encode("+254" .. phone)
    .. "&networkCode=63902"
  local form = {["Content-Type"] = "application/x-www-form-urlencoded"}
  if step == #steps then
    return wrk.format("POST", "/ussd/africastalking/events", form, body .. "&status=Success")
  end
  return wrk.format("POST", "/ussd/africastalking", form, body .. "&text=" .. encode(steps[step + 1]))
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
