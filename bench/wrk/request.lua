-- One request, repeated: the method, body and headers come from the environment, so that one
-- script serves every endpoint bench/run measures (Jeton's and node-oidc-provider's).
--   WRK_METHOD   GET (default) or POST
--   WRK_BODY     a form body (sent as application/x-www-form-urlencoded)
--   WRK_AUTH     the Authorization header's value
--   WRK_API_KEY  the X-API-Key header's value
-- At the end prints one machine-readable line, read by bench/run:
--   RESULT requests=N seconds=S rps=R p50_ms=A p99_ms=B errors=E
-- (errors: non-2xx/3xx answers, socket errors and timeouts; bench/run refuses a run with any).
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local key = os.getenv("WRK_API_KEY")
if key and key ~= "" then
  wrk.headers["X-API-Key"] = key
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
