-- PUTs the fixture deployment, a new application name each time (thread
-- and counter), as a pipeline would.
local body_template = nil
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = io.open("tests/fixtures/deployment.json", "r")
  body_template = file:read("*a")
  file:close()
  thread_id = id
end

request = function()
  counter = counter + 1
  local name = string.format("wrk-%d-%d", thread_id, counter)
  local body = string.gsub(body_template, '"applicationName"%s*:%s*"[^"]*"',
    '"applicationName": "' .. name .. '"', 1)
  return wrk.format("PUT", "/api/v1/deployment", {["Content-Type"] = "application/json"}, body)
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("requests %d, non-2xx %d\n", summary.requests, summary.errors.status))
end
