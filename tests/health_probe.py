"""A process that asks /healthz every 50 ms for a while and prints the latencies and errors as
JSON: run it beside a load (`python -c HEALTH_PROBE host port seconds`) so that the load
generator's own process does not slow the probe. Used by tests and benchmarks/reliability.py."""

HEALTH_PROBE = r"""
import http.client, json, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conn = http.client.HTTPConnection(host, port, timeout=10)
lat, errors, end = [], [], time.monotonic() + seconds
while time.monotonic() < end:
    t0 = time.perf_counter()
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse(); r.read()
        if r.status != 200:
            errors.append(r.status)
    except Exception as exc:
        errors.append(repr(exc)); conn = http.client.HTTPConnection(host, port, timeout=10)
    lat.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.05)
print(json.dumps({"latencies_ms": lat, "errors": errors}))
"""
