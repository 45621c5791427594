-- wrk script: every thread (one connection each) plays USSD sessions one hop after another:
-- dial, Help, a topic, back, another topic, back, home. Each session has its own phone number,
-- so the per-phone rate limit never trips. BENCH_DELAY_MS paces requests for the latency run.
local steps = {"", "7", "7*1", "7*1*0", "7*1*0*4", "7*1*0*4*0", "7*1*0*4*0*00"}
local counter = 0
local thread_number = 0
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
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

request = function()
  local step = counter % #steps
  local session = math.floor(counter / #steps)
  counter = counter + 1
  local phone = 710000000 + (thread_number * 200000 + session) % 9000000
  local body = "sessionId=BENCH" .. thread_number .. "x" .. session .. "r" .. tag
    .. "&serviceCode=" .. encode("*384*123#")
    .. "&phoneNumber=" .. encode("+254" .. phone)
    .. "&networkCode=63902&text=" .. encode(steps[step + 1])
  return wrk.format("POST", "/ussd/africastalking", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
