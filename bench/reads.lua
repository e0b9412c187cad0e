-- 16 dashboards: the insights and the largest page of deployments, in turn.
-- No response() callback: with one, wrk copies every 450 KB body into Lua
-- (its own CPU, on the cores the server shares); done() has the counts.
local paths = {"/api/v1/insights", "/api/v1/deployments?limit=500"}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % 2) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, non-2xx %d\n", summary.requests, summary.errors.status))
end
