#!/usr/bin/env python3
"""Where a request's time goes: the difference of Dossier's `dossier_request_phase_seconds`
histograms between two /metrics scrapes (before and after a load run), per phase: requests
timed, mean, and p50 / p90 / p99 (the upper bound of the bucket the quantile falls in); and
the audit sealer's lag per pass (`dossier_audit_seal_lag_seconds`, PostgreSQL).

Usage: bench/phases.py BEFORE.txt AFTER.txt [LABEL]   (prints a Markdown table)"""
import re
import sys

SAMPLE = re.compile(r'^dossier_request_phase_seconds_(bucket|sum|count)\{phase="([a-z]+)"(?:,le="([^"]+)")?\} (\S+)$')
# The sealer's lag (PostgreSQL): per sealing pass, not per request; its "requests" are passes.
SEAL_LAG = re.compile(r'^dossier_audit_seal_lag_seconds_(bucket|sum|count)(?:\{le="([^"]+)"\})? (\S+)$')
ORDER = ["authenticate", "admit", "begin", "execute", "audit", "commit", "seal lag (per pass)"]


def read(path):
    buckets, sums, counts = {}, {}, {}
    with open(path) as f:
        for line in f:
            m = SAMPLE.match(line.strip())
            if m:
                kind, phase, le, value = m.groups()
            else:
                m = SEAL_LAG.match(line.strip())
                if not m:
                    continue
                kind, le, value = m.groups()
                phase = ORDER[-1]
            if kind == "bucket":
                buckets.setdefault(phase, {})[le] = float(value)
            elif kind == "sum":
                sums[phase] = float(value)
            else:
                counts[phase] = float(value)
    return buckets, sums, counts


def quantile(bounds, q):
    """bounds: [(upper bound, cumulative count)] in order, +Inf last."""
    total = bounds[-1][1]
    if total == 0:
        return None
    for bound, cumulative in bounds:
        if cumulative >= q * total:
            return bound
    return bounds[-1][0]


def ms(seconds):
    if seconds is None:
        return "–"
    if seconds == float("inf"):
        return "> 5000"
    return "%.2f" % (seconds * 1000)


def main():
    b0, s0, c0 = read(sys.argv[1])
    b1, s1, c1 = read(sys.argv[2])
    label = sys.argv[3] if len(sys.argv) > 3 else ""
    print("| %sphase | requests | mean ms | p50 ms ≤ | p90 ms ≤ | p99 ms ≤ |" % ("run | " if label else ""))
    print("|%s---|---|---|---|---|---|" % ("---|" if label else ""))
    for phase in ORDER:
        if phase not in c1:
            continue
        count = c1[phase] - c0.get(phase, 0)
        if count <= 0:
            continue
        mean = (s1[phase] - s0.get(phase, 0)) / count
        bounds = []
        for le, cumulative in b1[phase].items():
            bound = float("inf") if le == "+Inf" else float(le)
            bounds.append((bound, cumulative - b0.get(phase, {}).get(le, 0)))
        bounds.sort()
        print("| %s%s | %d | %s | %s | %s | %s |" % (
            label + " | " if label else "", phase, count, ms(mean),
            ms(quantile(bounds, 0.5)), ms(quantile(bounds, 0.9)), ms(quantile(bounds, 0.99))))


main()
