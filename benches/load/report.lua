-- wrk report: one machine-readable line with requests, errors, req/s and latency percentiles (µs).
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d errors=%d rps=%.1f p50=%d p90=%d p99=%d max=%d\n",
    summary.requests, errors, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
