#!/usr/bin/env python3
"""Summarise a bench/run.sh results file (JSON lines written by the harness's bench.sh/floor.sh,
labels sSCALE/target/query/cCONC/rREP; targets dossier, postgraphile (4), postgraphile5, floor-plain,
floor-rls) into markdown: the comparison table, the scale and audit ratios, and the issue's targets
with the measured figure and PASS/MISS.

Usage: report.py RESULTS.jsonl [--runs]      (--runs adds one line per run: CPU, p50, RSS, ...)

Ratios are computed per repetition, from the runs that were interleaved in that repetition, then
averaged; the figures in parentheses are the repetitions one by one. "The faster peer" is, per
repetition, whichever of PostGraphile 4 and 5 served more requests per second; "the better peer's
p99" the lower of their p99s."""
import collections
import json
import sys
from statistics import mean

TARGETS = {  # issue 12
    "q1_rps_vs_floor": 0.8, "q1_rps_vs_peer": 3.0, "q2_rps_vs_peer": 1.5, "q3_rps_vs_peer": 1.2,
    "p99_vs_peer": 1.0, "audited_vs_unaudited": 0.85, "rss_mb": 60, "scale10_vs_scale1": 0.9,
}
PEERS = ("postgraphile", "postgraphile5")
ORDER = []  # every record, in file order
QUERY_ORDER = {"q1": 0, "q1_nopii": 1, "q2": 2, "q3": 3}


def load(path):
    runs = collections.defaultdict(dict)  # (scale, target, query, conc) -> {rep: record}
    ORDER.clear()
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        parts = r["label"].split("/")
        if len(parts) != 5:
            continue
        s, target, query, c, rep = parts
        runs[(int(s[1:]), target, query, int(c[1:]))][int(rep[1:])] = r
        ORDER.append(r)
    return runs


def fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:.{nd}f}"


def with_runs(values, nd=0):
    """'mean (v1/v2/…)' or just the value for one run."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt(values[0], nd)
    return f"{fmt(mean(values), nd)} ({'/'.join(fmt(v, nd) for v in values)})"


def ratios(a, b, key):
    """Per-repetition ratios a[rep][key] / b[rep][key] over the repetitions both have."""
    out = []
    for rep in sorted(set(a) & set(b)):
        x, y = float(a[rep][key]), float(b[rep][key])
        if y > 0:
            out.append(x / y)
    return out


def best_peer(peers, key, pick):
    """Per repetition, the better of the peers' figures (pick = max for req/s, min for p99)."""
    reps = set.intersection(*(set(p) for p in peers)) if all(peers) else set()
    return {rep: {key: pick(float(p[rep][key]) for p in peers)} for rep in reps}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runs = load(sys.argv[1])
    show_runs = "--runs" in sys.argv
    scales = sorted({k[0] for k in runs})
    concs = sorted({k[3] for k in runs})
    get = lambda s, t, q, c: runs.get((s, t, q, c), {})
    measured = collections.defaultdict(list)  # target key -> [(value, where)]
    rss_max = {}  # "sS cC" -> highest Dossier RSS over its queries

    print("| scale | query | conc | Dossier req/s | PG 4 req/s | PG 5 req/s | floor plain req/s | floor rls req/s "
          "| Dossier ÷ PG 4 | ÷ PG 5 | ÷ faster peer | ÷ floor plain | p99 ms Dossier / PG 4 / PG 5 "
          "| Dossier p99 ÷ better peer's | Dossier RSS peak MB | errors D / 4 / 5 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in scales:
        for q in sorted({k[2] for k in runs if k[0] == s and k[1] == "dossier"}, key=lambda q: QUERY_ORDER.get(q, 9)):
            for c in concs:
                d = get(s, "dossier", q, c)
                p4, p5 = (get(s, peer, q, c) for peer in PEERS)
                if not d:
                    continue
                fp, fr = (get(s, "floor-plain", "q1", c), get(s, "floor-rls", "q1", c)) if q == "q1" else ({}, {})
                rps = lambda rs: [float(rs[k]["rps"]) for k in sorted(rs)]
                p99 = lambda rs: [float(rs[k]["p99_ms"]) for k in sorted(rs)]
                fastest = best_peer([p4, p5], "rps", max)
                steadiest = best_peer([p4, p5], "p99_ms", min)
                r_peer = ratios(d, fastest, "rps")
                r_df = ratios(d, fp, "rps")
                r_p99 = ratios(d, steadiest, "p99_ms")
                rss = max((int(r.get("server_rss_peak_mb", 0)) for r in d.values()), default=None)
                errors = lambda rs: sum(int(r["errors"]) for r in rs.values()) if rs else None
                name = {"q1_nopii": "Q1 no personal fields"}.get(q, q.upper())
                p99s = " / ".join(with_runs(p99(x), 1) for x in (d, p4, p5))
                print(f"| {s} | {name} | {c} | {with_runs(rps(d))} | {with_runs(rps(p4))} | {with_runs(rps(p5))} | "
                      f"{with_runs(rps(fp))} | {with_runs(rps(fr))} | {with_runs(ratios(d, p4, 'rps'), 2)} | "
                      f"{with_runs(ratios(d, p5, 'rps'), 2)} | {with_runs(r_peer, 2)} | {with_runs(r_df, 2)} | "
                      f"{p99s} | {with_runs(r_p99, 2)} | {fmt(rss)} | "
                      f"{errors(d)} / {fmt(errors(p4))} / {fmt(errors(p5))} |")
                where = f"s{s} c{c}"
                if q in ("q1", "q2", "q3") and r_peer:
                    measured[f"{q}_rps_vs_peer"].append((mean(r_peer), where))
                if q in ("q1", "q2", "q3") and r_p99:
                    measured["p99_vs_peer"].append((mean(r_p99), f"{q.upper()} {where}"))
                if q == "q1" and r_df:
                    measured["q1_rps_vs_floor"].append((mean(r_df), where))
                if rss is not None and c == max(concs):
                    rss_max[where] = max(rss_max.get(where, 0), rss)

    measured["rss_mb"] = [(v, w) for w, v in rss_max.items()]

    print()
    lines = []
    if 1 in scales and 10 in scales:
        for c in concs:
            d1, d10 = get(1, "dossier", "q1", c), get(10, "dossier", "q1", c)
            p1, p10 = get(1, "postgraphile5", "q1", c), get(10, "postgraphile5", "q1", c)
            if d1 and d10:
                v = mean(float(r["rps"]) for r in d10.values()) / mean(float(r["rps"]) for r in d1.values())
                measured["scale10_vs_scale1"].append((v, f"c{c}"))
                pg = (mean(float(r["rps"]) for r in p10.values()) / mean(float(r["rps"]) for r in p1.values())
                      if p1 and p10 else None)
                lines.append(f"* Q1 req/s scale 10 ÷ scale 1, concurrency {c}: Dossier **{v:.2f}** "
                             f"(PostGraphile 5 {fmt(pg, 2)}; not interleaved: the scales run one after the other)")
    for s in scales:
        for c in concs:
            a, u = get(s, "dossier", "q1", c), get(s, "dossier", "q1_nopii", c)
            r = ratios(a, u, "rps")
            if r:
                measured["audited_vs_unaudited"].append((mean(r), f"s{s} c{c}"))
                lines.append(f"* audited Q1 ÷ Q1 without personal fields, scale {s}, concurrency {c}: **{with_runs(r, 2)}**")
    print("\n".join(lines))

    total_err = sum(int(r["errors"]) for rs in runs.values() for r in rs.values())
    n_runs = sum(len(rs) for rs in runs.values())
    err_runs = [f"{k[1]} {k[2]} s{k[0]} c{k[3]} r{rep}" for k, rs in runs.items() for rep, r in rs.items() if int(r["errors"])]

    print()
    print("| target (issue 12) | wanted | measured (worst case) | all cases | |")
    print("|---|---|---|---|---|")
    spec = [
        ("q1_rps_vs_floor", "Q1 req/s Dossier ÷ SQL floor (plain)", "≥", 2),
        ("q1_rps_vs_peer", "Q1 req/s Dossier ÷ the faster peer", "≥", 2),
        ("q2_rps_vs_peer", "Q2 req/s Dossier ÷ the faster peer", "≥", 2),
        ("q3_rps_vs_peer", "Q3 req/s Dossier ÷ the faster peer", "≥", 2),
        ("p99_vs_peer", "p99 of Q1, Q2, Q3: Dossier ÷ the better peer's", "≤", 2),
        ("audited_vs_unaudited", "audited Q1 ÷ Q1 without personal fields", "≥", 2),
        ("rss_mb", f"Dossier peak RSS at concurrency {max(concs) if concs else '–'}, MB", "≤", 0),
        ("scale10_vs_scale1", "Q1 req/s scale 10 ÷ scale 1 (Dossier)", "≥", 2),
    ]
    for key, text, op, nd in spec:
        vals = measured.get(key)
        want = TARGETS[key]
        if not vals:
            print(f"| {text} | {op} {want} | – | not measured | |")
            continue
        worst = min(vals) if op == "≥" else max(vals)
        ok = worst[0] >= want if op == "≥" else worst[0] <= want
        every = ", ".join(f"{w}: {fmt(v, nd)}" for v, w in vals)
        print(f"| {text} | {op} {want} | {fmt(worst[0], nd)} ({worst[1]}) | {every} | {'PASS' if ok else 'MISS'} |")
    print(f"| errors | 0 in every run | {total_err} in {n_runs} runs | "
          f"{'; '.join(err_runs) if err_runs else 'none'} | {'PASS' if total_err == 0 else 'MISS'} |")

    if show_runs:
        print()
        print("Every run (in the order run):")
        print()
        print("| label | conc | req/s | p50 ms | p99 ms | max ms | errors | server RSS before/peak/after MB "
              "| server CPU cores | host busy cores | steal % |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in ORDER:
            rss = (f"{r['server_rss_before_mb']}/{r['server_rss_peak_mb']}/{r['server_rss_after_mb']}"
                   if "server_rss_peak_mb" in r else "–")
            print(f"| {r['label']} | {r['concurrency']} | {float(r['rps']):.0f} | {float(r['p50_ms']):.1f} | "
                  f"{float(r['p99_ms']):.1f} | {float(r['max_ms']):.0f} | {r['errors']} | {rss} | "
                  f"{r.get('server_cpu_cores', '–')} | {r.get('host_cpu_busy_cores', '–')} | {r.get('host_steal_pct', '–')} |")


if __name__ == "__main__":
    main()
