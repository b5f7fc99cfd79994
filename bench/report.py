#!/usr/bin/env python3
"""Turns the raw results of bench/run (a directory of JSON and key=value files) into
bench/RESULTS.md. Usage: report.py RESULTS_DIR OUT.md"""

import glob
import json
import os
import statistics
import sys

RES, OUT = sys.argv[1], sys.argv[2]
BACKENDS = ["sqlite", "postgres"]
P99_TARGET_MS = 25.0
RATIO_TARGET = 0.60
RSS_TARGET_BYTES = 80_000_000  # 80 MB, decimal (the stricter reading)
FORM_TARGET_BYTES = 10_000  # 10 KB, decimal


def env(name):
    out = {}
    path = os.path.join(RES, name)
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def text(name):
    path = os.path.join(RES, name)
    return open(path).read().rstrip() if os.path.exists(path) else ""


def runs(backend, scenario):
    out = []
    for f in sorted(glob.glob(os.path.join(RES, f"{backend}.{scenario}.[0-9]*.json"))):
        out.append(json.load(open(f)))
    return out


def mib(kb):
    return f"{int(kb) / 1024:.1f} MiB ({int(kb) * 1024 / 1e6:.1f} MB)"


def fmt_range(values, unit="", digits=0):
    if not values:
        return "—"
    lo, hi = min(values), max(values)
    f = f"{{:,.{digits}f}}"
    return f"{f.format(lo)}{unit}" if lo == hi else f"{f.format(lo)}–{f.format(hi)}{unit}"


def met(ok):
    return "**met**" if ok else "**MISSED**"


meta = env("meta.env")
lines = []
w = lines.append

w("# Haven load benchmarks: results")
w("")
if "wall_s" in meta:
    w(f"Written by `bench/run` on {meta.get('date_utc', '?')}; the whole run took "
      f"{int(meta['wall_s']) // 60} min {int(meta['wall_s']) % 60} s.")
else:
    w(f"From the raw results of a `bench/run` started on {meta.get('date_utc', '?')} and stopped before "
      "its end: only the parts present below were measured.")
w("")
dirty = int(meta.get("dirty_files", "0") or 0)
if meta.get("source", "").startswith("the directory"):
    w(f"- Source: {meta['source']}; the repository's HEAD at the time was `{meta.get('commit', '?')}`")
elif meta.get("source", "").startswith("git archive"):
    w(f"- Commit: `{meta.get('commit', '?')}`, built from `git archive HEAD` (exactly that commit"
      + (f"; the {dirty} uncommitted changes in the work tree at the time were not measured)" if dirty else ")"))
else:
    w(f"- Commit: `{meta.get('commit', '?')}`"
      + (f" **plus {dirty} modified tracked files in the work tree** (built from the work tree; list below)"
         if dirty else " (clean work tree)"))
if meta.get("haven_env"):
    w(f"- Extra environment of the haven process: `{meta['haven_env']}`")
w(f"- Toolchain: {meta.get('rustc', '?')}; haven release binary {int(meta.get('binary_size_bytes', 0)) / 1e6:.1f} MB")
w(f"- Load generators: {meta.get('oha') or 'oha not available'} for fixed-body runs; `bench/loadgen` "
  "(16 keep-alive connections, one body per request) for the form and for a second baseline run")
pg = env("postgres.settings")
if pg:
    w(f"- PostgreSQL: {pg.get('server', '?')}, synchronous_commit={pg.get('synchronous_commit')}, "
      f"fsync={pg.get('fsync')}, shared_buffers={pg.get('shared_buffers')}"
      + (f", autovacuum={pg['autovacuum']}" if "autovacuum" in pg else "")
      + (" (so bench/run ANALYZEs the tables itself after seeding 100,000 cases, as autovacuum would)"
         if pg.get("autovacuum") == "off" else ""))
if os.path.exists(os.path.join(RES, "postgres.skipped")):
    w(f"- PostgreSQL: **SKIPPED** ({text('postgres.skipped')})")
w(f"- Machine: {meta.get('nproc', '?')} cores (shared with other work: see the load averages), kernel {meta.get('kernel', '?')}")
w("")
w("```")
w("$ nproc")
w(meta.get("nproc", "?"))
w("$ lscpu | head -n 15")
w(text("lscpu.txt"))
w("$ free -m")
w(text("free.txt"))
w("```")
if dirty and not meta.get("source", "").startswith("git archive"):
    w("")
    w("<details><summary>Modified files in the work tree at the time of the run</summary>")
    w("")
    w("```")
    w(text("dirty.txt"))
    w("```")
    w("</details>")
w("")
w("Server and load generator share the same 2 cores over loopback; every figure below is a "
  f"closed loop of {runs('sqlite', 'baseline')[0]['connections'] if runs('sqlite', 'baseline') else 16} "
  "connections, each sending its next request when the answer arrives. Each scenario had a 3 s warm-up, "
  "then was run twice; both runs are shown. *ok req/s* counts 2xx and 3xx answers (a stored form report answers `303 See Other` to its receipt page). Latencies are per request "
  "as the load generator saw them.")
w("")


def mean_ok(rs):
    return statistics.mean(r["ok_rps"] for r in rs) if rs else None


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------
w("## Targets")
w("")
w("| target | SQLite | PostgreSQL |")
w("|---|---|---|")


def per_backend(fn):
    cells = []
    for b in BACKENDS:
        try:
            cells.append(fn(b))
        except Exception:  # noqa: BLE001 - a missing backend shows as a dash
            cells.append("—")
    return cells


def ratio_cell(b, scen, base):
    h, l = runs(b, scen), runs(b, base)
    if not h or not l:
        return "—"
    r = mean_ok(h) / mean_ok(l)
    per = [x["ok_rps"] / mean_ok(l) for x in h]
    return f"{r:.0%} ({fmt_range([p * 100 for p in per], ' %')} per run) {met(r >= RATIO_TARGET)}"


w("| API intake ≥ 60 % of the limit (oha) | " + " | ".join(per_backend(lambda b: ratio_cell(b, "alerts_api", "baseline"))) + " |")
w("| form intake ≥ 60 % of the limit (loadgen) | " + " | ".join(per_backend(lambda b: ratio_cell(b, "form_post", "baseline_loadgen"))) + " |")


def p99_cell(b, scen):
    rs = runs(b, scen)
    if not rs:
        return "—"
    worst = max(r["p99_ms"] for r in rs)
    return f"{fmt_range([r['p99_ms'] for r in rs], ' ms', 1)} {met(worst < P99_TARGET_MS)}"


for scen, label in [("alerts_api", "API intake"), ("form_post", "form intake"), ("case_notes", "case with 20 notes"),
                    ("case_show", "one case"), ("list_filtered", "list, severity+country"), ("list_open", "list, status=open")]:
    w(f"| p99 < 25 ms, {label} | " + " | ".join(per_backend(lambda b: p99_cell(b, scen))) + " |")


CONSOLE_P99_MS = {"sqlite": 25.0, "postgres": 40.0}


def console_cell(b, scen):
    rs = runs(b, scen)
    if not rs:
        return "—"
    worst = max(r["p99_ms"] for r in rs)
    return f"{fmt_range([r['p99_ms'] for r in rs], ' ms', 1)} {met(worst < CONSOLE_P99_MS.get(b, 25.0))}"


for scen, label in [("console_case", "console case file"), ("console_cases", "console case list")]:
    w(f"| p99 < 25 ms (SQLite) / 40 ms (PostgreSQL), {label} | " + " | ".join(per_backend(lambda b: console_cell(b, scen))) + " |")


def rss_cell(b):
    s = env(f"{b}.start.env")
    peak = max(int(s[k]) for k in ("intake_phase_hwm_kb", "read_phase_hwm_kb") if k in s)
    return f"{mib(peak)} {met(peak * 1024 < RSS_TARGET_BYTES)}"


w("| peak RSS < 80 MB | " + " | ".join(per_backend(rss_cell)) + " |")


def form_cell(b):
    f = env(f"{b}.form.env")
    gz = int(f["report_gzip_bytes"]) + int(f["css_gzip_bytes"])
    plain = int(f["report_plain_bytes"])
    return (f"gzip: page {int(f['report_gzip_bytes']):,} B + css {int(f['css_gzip_bytes']):,} B = {gz:,} B {met(gz < FORM_TARGET_BYTES)}; "
            f"uncompressed page alone {plain:,} B {met(plain < FORM_TARGET_BYTES)}")


w("| form page < 10 KB (English) | " + " | ".join(per_backend(form_cell)) + " |")
w("")
w("10 KB and 80 MB are read as 10,000 and 80,000,000 bytes. The form page is sent gzip-compressed to "
  "any browser that asks for it (`Accept-Encoding: gzip`), which every current browser does; the "
  "uncompressed size is what a client without gzip receives.")
w("")

# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
HEAD = ("| backend | run | tool | load avg before | requests | ok req/s | p50 ms | p90 ms | p99 ms | max ms | statuses | errors |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|")


def table(scen):
    w(HEAD)
    for b in BACKENDS:
        for r in runs(b, scen):
            st = ", ".join(f"{k}: {v:,}" for k, v in sorted(r["statuses"].items()))
            w(f"| {b} | {r['rep']} | {r['tool']} | {r['loadavg_before']} | {r['requests']:,} | {r['ok_rps']:,.0f} | "
              f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | {st} | {r['errors']} |")
    w("")


w("## 1. Alert intake")
w("")
w("`POST /api/v1/alerts` as a coordinator (JSON, a 400-character narrative, urgency `critical`, so every "
  "alert is sealed with a new case key, audited, and starts the `critical-alert-untriaged` escalation; "
  "the engine's 5 s passes then write its first mails to the outbox and the file mailer while the load "
  "runs). No `Idempotency-Key` (it is optional).")
w("")
table("alerts_api")
waits = text("postgres.waits.txt")
if waits:
    w("While these PostgreSQL runs went on (warm-up included), Haven's active backends were sampled every 0.2 s "
      "in `pg_stat_activity` (count of samples, `wait_event_type:wait_event:state`; `CPU` = not waiting):")
    w("")
    w("```")
    w(waits)
    w("```")
    w("")
w("`POST /report` (the form, urlencoded, same narrative, urgency `critical`, `contact=none`, `consent=ngo`), "
  "each request with its own token fetched beforehand with `GET /report`; a stored report answers `303 See Other` to its receipt page, which is not fetched. "
  "Sent with `bench/loadgen` (oha cannot vary the body).")
w("")
table("form_post")
for b in BACKENDS:
    t = env(f"{b}.tokens.env")
    if t:
        w(f"- {b}: fetching {int(t['tokens']):,} form tokens (`GET /report`, 16 connections) took {float(t['tokens_s']):.1f} s "
          f"({int(t['tokens']) / float(t['tokens_s']):,.0f} pages/s).")
ex = [r for b in BACKENDS for r in runs(b, "form_post") if r.get("bodies_exhausted")]
if ex:
    w("- **Some form runs ran out of tokens before their time** (see elapsed): "
      + ", ".join(f"{r['backend']} run {r['rep']} after {r['elapsed_s']:.1f} s" for r in ex))
w("")

w("## 2. Reads at 100,000 cases")
w("")
for b in BACKENDS:
    s = env(f"{b}.start.env")
    seed = json.load(open(os.path.join(RES, f"{b}.seed.json"))) if os.path.exists(os.path.join(RES, f"{b}.seed.json")) else None
    if seed:
        w(f"- {b}: seeding {seed['ok']:,} cases through `POST /api/v1/cases` (16 connections, severities and "
          f"10 countries in rotation; a quarter are `critical`, which starts an escalation each) took "
          f"{seed['elapsed_s']:.0f} s = {seed['ok_rps']:,.0f} cases/s (p50 {seed['p50_ms']:.1f} ms, p99 {seed['p99_ms']:.1f} ms; "
          f"statuses {seed['statuses']}, load avg before {seed['loadavg_before']}). Database size afterwards: "
          f"{int(s.get('db_kb', 0)) / 1024:,.0f} MiB.")
w("")
w("`GET /api/v1/cases/{id}/notes`: one case with 20 sealed notes of 500 characters (each opened with the "
  "case key, warm in the key cache):")
w("")
table("case_notes")
w("`GET /console/cases/{id}`: the console's case file of that case (a form alert triaged into it), which "
  "also holds 3 assessments, 2 plans and 10 messages to her (its timeline, notes and messages opened), with the "
  "session cookie:")
w("")
table("console_case")
w("`GET /console/cases`: the console's case list of the coordinator (every case of her organisation; the "
  "200 newest, sorted by next deadline):")
w("")
table("console_cases")
for b in BACKENDS:
    s = env(f"{b}.start.env")
    if "console_case_gzip_bytes" in s:
        w(f"- {b}: gzipped: case file {int(s['console_case_gzip_bytes']):,} B; case list {int(s.get('console_cases_gzip_bytes', 0)):,} B")
w("")
w("`GET /api/v1/cases/{id}` (the same case):")
w("")
table("case_show")
w("`GET /api/v1/cases?severity=critical&country=KE&limit=50` (2.5 % of the cases match):")
w("")
table("list_filtered")
w("`GET /api/v1/cases?status=open&limit=50` (every case matches; the newest 50):")
w("")
table("list_open")
for b in BACKENDS:
    s = env(f"{b}.start.env")
    if "case_notes_bytes" in s:
        w(f"- {b}: response sizes: notes page {int(s['case_notes_bytes']):,} B; filtered list "
          f"{int(s.get('list_filtered_bytes', 0)):,} B; open list {int(s.get('list_open_bytes', 0)):,} B")
w("")

for b in BACKENDS:
    ex = text(f"{b}.explain.txt")
    if ex:
        w(f"Plan of the list query on {b} at the end of seeding (the query's shape, as sent by "
          "`Case::page_visible`; PostgreSQL: the generic plan of the prepared statement):")
        w("")
        w("```")
        w(ex)
        w("```")
        w("")

w("## 3. The limit: `bench/baseline`")
w("")
w("A minimal actix-web 4 + diesel 2.3 server (`bench/baseline/`), started right after Haven's intake runs "
  "with Haven stopped, on PostgreSQL in the same database (its table is dropped afterwards), on SQLite in a "
  "fresh file beside Haven's (Haven's intake also began on a fresh file): it parses the same JSON body and inserts one row (a 600-byte "
  "random blob and five text columns) in one write transaction, through an r2d2 pool of 8 with Haven's "
  "SQLite PRAGMAs (WAL, synchronous=NORMAL, busy_timeout, foreign_keys) and write lock + `BEGIN IMMEDIATE`, "
  "or Haven's PostgreSQL session settings.")
w("")
table("baseline")
w("The same, measured with `bench/loadgen` (the form's tool):")
w("")
table("baseline_loadgen")
w("| backend | API intake / limit (oha) | form intake / limit (loadgen) |")
w("|---|---|---|")
for b in BACKENDS:
    if runs(b, "baseline"):
        w(f"| {b} | {ratio_cell(b, 'alerts_api', 'baseline')} | {ratio_cell(b, 'form_post', 'baseline_loadgen')} |")
w("")
w("Ratios are mean ok req/s of Haven's runs over the mean of the baseline's runs; the per-run figures "
  "divide each Haven run by that mean.")
w("")

w("## 4. Memory (RSS of the server process, from /proc/PID/status)")
w("")
w("| backend | idle after first start (VmRSS) | peak after API intake (VmHWM) | peak after API + form intake (VmHWM) | idle after restart | peak during seeding + reads (VmHWM) | RSS after reads | baseline idle / peak |")
w("|---|---|---|---|---|---|---|---|")
for b in BACKENDS:
    s = env(f"{b}.start.env")
    if s:
        g = lambda k: mib(s[k]) if k in s else "—"  # noqa: E731
        w(f"| {b} | {g('idle_rss_kb')} | {g('api_phase_hwm_kb')} | {g('intake_phase_hwm_kb')} | {g('restart_idle_rss_kb')} | "
          f"{g('read_phase_hwm_kb')} | {g('read_phase_rss_kb')} | {g('baseline_idle_rss_kb')} / {g('baseline_hwm_kb')} |")
w("")
w("Idle is read 5 s after the first start (migrations and bootstrap done, no request yet). The peak after "
  "API intake includes the set-up before it: the admin's login, the coordinator's creation, first login, "
  "password change and second login (six Argon2 password hashes or checks, 19 MiB each). The first "
  "start, until `/healthz` answered, took "
  + ", ".join(f"{float(env(f'{b}.start.env')['first_start_s']):.1f} s ({b})" for b in BACKENDS if env(f'{b}.start.env'))
  + ".")
w("")

w("## 5. One escalation engine pass (`cargo bench --bench escalation`)")
w("")
w("100,000 active escalations, 1,000 due, two coordinators each (benches/escalation.rs), release build; "
  "SQLite in a temp dir and PostgreSQL in a fresh schema of the `test` database.")
w("")
for f in sorted(glob.glob(os.path.join(RES, "escalation.[0-9]*.txt"))):
    rep = f.split(".")[-2]
    w(f"Run {rep} (load avg before: {text(f'escalation.{rep}.loadavg')}):")
    w("")
    w("```")
    w(open(f).read().rstrip())
    w("```")
    w("")

w("## Form page weight")
w("")
w("| backend | page, English | page, Arabic | form.css | response headers |")
w("|---|---|---|---|---|")
for b in BACKENDS:
    f = env(f"{b}.form.env")
    if f:
        w(f"| {b} | {int(f['report_plain_bytes']):,} B ({int(f['report_gzip_bytes']):,} B gzip) | "
          f"{int(f['report_ar_plain_bytes']):,} B ({int(f['report_ar_gzip_bytes']):,} B gzip) | "
          f"{int(f['css_plain_bytes']):,} B ({int(f['css_gzip_bytes']):,} B gzip) | {int(f['report_headers_bytes']):,} B |")
w("")

open(OUT, "w").write("\n".join(lines) + "\n")
