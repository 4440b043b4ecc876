#!/usr/bin/env python3
"""One line from wrk --latency output on stdin: requests/s, p50 and p99 in ms, and whether any
answer was not 2xx/3xx. Shared by the bench scripts."""
import re
import sys

text = sys.stdin.read()


def ms(value):
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def quantile(q):
    # Anchored at a line start: the thread stats' "+/- Stdev" column can also end in "50%".
    return ms(re.search(rf"\n\s+{q}%\s+(\S+)", text).group(1))


rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rps:8.0f} req/s  p50 {quantile(50):7.2f} ms  p99 {quantile(99):7.2f} ms"
      + (f"  {bad.group(1)} non-2xx!" if bad else ""))
