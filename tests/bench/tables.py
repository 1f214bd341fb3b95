"""The text and Markdown tables of a results file: the side-by-side scenarios, the mixed
family, the engine comparisons, and the notes under each (how every server was set up,
what happened, how steady the noise reference was).
"""

import collections

from peers import BASE, SERVER_KEYS, SPEC
from server import CANARIES


def fmt_ratio(rs):
    """The median ratio of a ratio_summary, or "-"."""
    return "%.2fx" % rs["median"] if rs else "-"


def old_ratio(summary, base):
    """A results file of the previous method has no paired ratios: the ratio of the
    medians, with no interval (shown as such, never as a lead)."""
    if not base:
        return None
    return {"median": summary["rps"] / base, "ci": None, "verdict": "few"}


def fmt_ci(rs):
    """The 95% bootstrap interval of a ratio_summary ("0.91-1.08"), "-" without one."""
    return "%.2f-%.2f" % tuple(rs["ci"]) if rs and rs.get("ci") else "-"


def fmt_lead(rs, lower="uwsgi-fast", higher="this server"):
    """Who leads by the interval: `lower` when it lies below 1.0, `higher` above, "tie"
    when it holds 1.0; "-" with too few rounds for a verdict (stats.MIN_ROUNDS)."""
    if not rs or not rs.get("ci") or rs["verdict"] == "few":
        return "-"
    return {"lower": lower, "higher": higher}.get(rs["verdict"], "tie")


def engine_sides(entry):
    """(side A's result row, side B's), either None when it is missing."""
    rows = {r["server"]: r for r in entry.get("results", [])}
    return rows.get(BASE), rows.get(entry.get("variant"))


def fmt_mbs(summary, entry):
    """Body megabytes (10^6 B) per second, for the 1 MiB scenarios."""
    size = entry.get("response_bytes") or 0
    if size < 65536 or not summary:
        return "-"
    return "%.0f" % (summary["rps"] * size / 1e6)


ENGINE_COLUMNS = ["comparison", "side B", "A req/s", "B req/s", "B/A", "95% CI", "lead",
                  "A MB/s", "B MB/s", "A p99", "B p99", "A CPU s/10k", "B CPU s/10k"]


def engine_rows(results):
    """Rows of strings (one per comparison) for the text and Markdown tables; a row that
    could not be measured has its reason in the third cell and nothing after it."""
    out = []
    for ent in results.get("engine", []):
        a, b = engine_sides(ent)
        label = SPEC[ent["variant"]].label.replace(SPEC[BASE].label, "").strip()
        if ent.get("omitted"):
            out.append([ent["name"], label, "; ".join(ent["omitted"])])
            continue
        missing = [r for r in (a, b) if not (r and r.get("summary"))]
        if missing:
            why = "; ".join("%s: %s" % (r["label"], r.get("error", "no result"))
                            for r in missing if r) or "no result"
            out.append([ent["name"], label, why])
            continue
        sa, sb = a["summary"], b["summary"]
        rs = b.get("ratio")
        if not rs and ent.get("ratio"):  # a results file of the previous method
            rs = {"median": ent["ratio"], "ci": None, "verdict": "few"}
        out.append([ent["name"], label, "%.0f" % sa["rps"], "%.0f" % sb["rps"],
                    fmt_ratio(rs), fmt_ci(rs), fmt_lead(rs, "A", "B"),
                    fmt_mbs(sa, ent), fmt_mbs(sb, ent), fmt_ms(sa["p99_us"]),
                    fmt_ms(sb["p99_us"]), fmt_cpu(sa), fmt_cpu(sb)])
    return out


def engine_text_table(results):
    rows = engine_rows(results)
    widths = [len(c) for c in ENGINE_COLUMNS]
    for row in rows:
        if len(row) == len(ENGINE_COLUMNS):
            widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(ENGINE_COLUMNS)),
             "  ".join("-" * w for w in widths)]
    for row in rows:
        if len(row) < len(ENGINE_COLUMNS):
            lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]]))
        else:
            lines.append("  ".join(c.rjust(widths[i]) if i >= 2 else c.ljust(widths[i])
                                   for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def fmt_cpu(summary):
    return "-" if summary["cpu_s_per_10k"] is None else "%.2f" % summary["cpu_s_per_10k"]


def fmt_share(share):
    return "/".join("%d" % round(100 * x) for x in share) + "%" if share else "-"


def engine_notes(results):
    """What each comparison's sides did besides their speed: where their workers were
    allowed to run and how the work split between them, and the zero-copy sends."""
    lines = []
    for ent in results.get("engine", []):
        sides = [r for r in engine_sides(ent) if r and r.get("summary")]
        if len(sides) < 2:
            continue
        parts = []
        cpus = [", ".join(c or "?" for c in r.get("worker_cpus", [])) for r in sides]
        if cpus[0] != cpus[1]:
            parts.append("workers' allowed CPUs: A %s; B %s" % (cpus[0] or "?", cpus[1] or "?"))
        shares = [r["summary"].get("worker_cpu_share") for r in sides]
        if any(shares):
            parts.append("workers' CPU split in a run (median): A %s, B %s"
                         % (fmt_share(shares[0]), fmt_share(shares[1])))
        zc = [r.get("zero_copy") or {"sends": 0, "copied": 0} for r in sides]
        if any(z["sends"] for z in zc):
            parts.append("zero-copy sends (copied by the kernel): A %d (%d), B %d (%d)"
                         % (zc[0]["sends"], zc[0]["copied"], zc[1]["sends"], zc[1]["copied"]))
        elif "zc-" in ent["name"]:
            parts.append("zero-copy sends: none on either side")
        for r in sides:
            extra = list(dict.fromkeys(r.get("notes", [])))
            if r.get("error_late"):
                extra.append(r["error_late"])
            errs = r["summary"]["socket_errors"] + r["summary"]["http_errors"]
            if errs:
                extra.append("%d errors" % errs)
            if extra:
                parts.append("%s: %s" % (r["label"], "; ".join(extra)))
        rs = sides[1].get("ratio")
        if rs:
            parts.append("B/A per round: %s" % " ".join("%.2f" % x for x in rs["per_round"]))
        cpu = worker_cpu_note(ent, sides)
        if cpu:
            parts.append(cpu)
        ref = reference_note(ent)
        if ref:
            parts.append(ref)
        lines.append("%s — %s" % (ent["name"], "; ".join(parts)))
    return lines


def worker_cpu_note(ent, sides):
    """The workers' CPU per 10k requests of each side (the master left out) and B/A of it
    paired by round with its interval: finer than req/s where the difference is small."""
    per = [r["summary"].get("worker_cpu_s_per_10k") for r in sides]
    if None in per:
        return None
    text = "workers' CPU s/10k req: A %.3f, B %.3f" % tuple(per)
    rs = ent.get("worker_cpu_ratio")
    if rs:
        ci = "%.3f-%.3f" % tuple(rs["ci"]) if rs.get("ci") else "-"
        text += "; B/A %.3fx (95%% CI %s, %s)" % (rs["median"], ci,
                                               "B less" if rs["verdict"] == "lower" else
                                               "B more" if rs["verdict"] == "higher" else
                                               "tie" if rs["verdict"] == "tie" else
                                               "too few rounds")
    return text


def fmt_ms(us):
    if us is None:
        return "-"
    ms = us / 1000
    if ms >= 1000:
        return "%.2f s" % (ms / 1000)
    if ms >= 100:
        return "%.0f ms" % ms
    if ms >= 10:
        return "%.1f ms" % ms
    return "%.2f ms" % ms


def fmt_errors(s):
    total = s["socket_errors"] + s["http_errors"]
    if total == 0:
        return "0"
    return "%d (%d sock, %d http)" % (total, s["socket_errors"], s["http_errors"])


# "x uwsgi-fast" is the median over rounds of req/s / req/s of the uwsgi-fast run next
# to it; "95% CI" its bootstrap interval; "lead" who is ahead when the interval excludes 1.
COLUMNS = ["scenario", "server", "req/s", "p50", "p99", "max", "errors", "starved",
           "CPU s/10k req", "RSS/worker MB", "x uwsgi-fast", "95% CI", "lead"]
# The mixed scenarios' own table: the latency of their fast requests, then of all.
MIX_COLUMNS = ["scenario", "server", "req/s", "fast p50", "fast p99", "p99 all", "max",
               "errors", "starved", "CPU s/10k req", "x uwsgi-fast", "95% CI", "lead"]


# The ASGI group's table has the side-by-side columns; its rows are ASGI servers.
ASGI_HEADER = ("ASGI scenarios: every server runs the same ASGI app with the scenario's "
               "worker count, on uvloop (Hypercorn: the loop its tuning kept); uwsgi-fast "
               "with -k asgi")


# The WebSocket group's table: messages (echoes) where the others count requests.
WS_HEADER = ("WebSocket echo: every server runs the same ASGI app with 1 worker, on uvloop "
             "(Hypercorn: the loop its tuning kept); uwsgi-fast with -k asgi; "
             "tests/bench/wsload.c keeps one message in flight per connection and checks "
             "every echo; no permessage-deflate (never offered)")
WS_COLUMNS = ["scenario", "server", "msg/s", "p50", "p99", "max", "errors", "CPU s/10k msg",
              "RSS/worker MB", "x uwsgi-fast", "95% CI", "lead"]


def family(results, mixed, asgi=False, ws=False):
    """The scenario entries of one table: the mixed family's, the ASGI group's, the
    WebSocket group's, or the others' (the behind-nginx group has its own tables, below)."""
    want = "ws" if ws else "asgi" if asgi else "wsgi"
    return [e for e in results["scenarios"] if bool(e.get("mix")) == mixed
            and not e.get("front") and (e.get("interface") or "wsgi") == want]


def side_by_side(results):
    """The entries of the main side-by-side tables (the WSGI scenarios, mixed included):
    neither the behind-nginx group's nor the ASGI group's."""
    return family(results, False) + family(results, True)


def fronted(results):
    """The behind-nginx group's scenario entries."""
    return [e for e in results["scenarios"] if e.get("front")]


def table_rows(entries, columns):
    """Rows of strings (one per scenario x server) for the text and Markdown tables; a
    server that did not run has its reason in the third cell and empty cells after it."""
    out = []
    for ent in entries:
        # entries of the previous method have no "rounds" list (and no paired ratios)
        base = next((r["summary"]["rps"] for r in ent["results"]
                     if r["server"] == BASE and r.get("summary")), None) \
            if "rounds" not in ent else None
        for r in ent["results"]:
            name = r["label"]
            if "summary" not in r:
                out.append([ent["name"], name, r.get("error", "no result")]
                           + [""] * (len(columns) - 3))
                continue
            s = r["summary"]
            cells = {
                "req/s": "%.0f" % s["rps"],
                "msg/s": "%.0f" % s["rps"],
                "p50": fmt_ms(s["p50_us"]),
                "p99": fmt_ms(s["p99_us"]),
                "fast p50": fmt_ms(s.get("fast_p50_us")),
                "fast p99": fmt_ms(s.get("fast_p99_us")),
                "p99 all": fmt_ms(s["p99_us"]),
                "max": fmt_ms(s["max_us"]),
                "errors": fmt_errors(s),
                "starved": "-" if s.get("starved") is None else "%d/%d" % (
                    s["starved"], s.get("watched") or CANARIES),
                "CPU s/10k req": fmt_cpu(s),
                "CPU s/10k msg": fmt_cpu(s),
                "RSS/worker MB": "%.1f" % s["rss_mb_per_worker"] if s["rss_mb_per_worker"]
                else "-",
                "x uwsgi-fast": "1.00x" if r["server"] == BASE else fmt_ratio(
                    r.get("ratio") or old_ratio(s, base)),
                "95% CI": fmt_ci(r.get("ratio")),
                "lead": fmt_lead(r.get("ratio")),
            }
            out.append([ent["name"], name] + [cells[c] for c in columns[2:]])
    return out


def columns_of(mixed, ws):
    return MIX_COLUMNS if mixed else WS_COLUMNS if ws else COLUMNS


def text_table(results, mixed=False, asgi=False, ws=False):
    columns = columns_of(mixed, ws)
    rows = table_rows(family(results, mixed, asgi, ws), columns)
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            if cell and not (i == 2 and not row[3]):  # a failure spans the metric columns
                widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(columns))]
    lines.append("  ".join("-" * w for w in widths))
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            lines.append("")
        prev = row[0]
        if row[2] and not row[3]:
            lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]]))
        else:
            lines.append("  ".join(c.rjust(widths[i]) if i >= 2 else c.ljust(widths[i])
                                   for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def config_lines(entries):
    """One line per server: how it was set up, with the scenarios a setting applies to
    when it does not apply to all."""
    ran = collections.defaultdict(list)  # server -> scenarios it ran in
    where = collections.defaultdict(lambda: collections.defaultdict(list))
    labels = {}
    for ent in entries:
        for r in ent["results"]:
            if "config_notes" not in r:
                continue
            labels[r["server"]] = r["label"]
            ran[r["server"]].append(ent["name"])
            for note in dict.fromkeys(r["config_notes"]):
                where[r["server"]][note].append(ent["name"])
    lines = []
    for key in SERVER_KEYS + [k for k in where if k not in SERVER_KEYS]:
        if key not in where:
            continue
        parts = []
        for note, scs in where[key].items():
            rest = [x for x in ran[key] if x not in scs]
            if not rest:
                parts.append(note)
            elif len(rest) < len(scs):
                parts.append("%s (all but %s)" % (note, ", ".join(rest)))
            else:
                parts.append("%s (%s)" % (note, ", ".join(scs)))
        lines.append("%s: %s" % (labels[key], "; ".join(parts)))
    return lines


def notes_lines(results, mixed=False, front=False, asgi=False, ws=False):
    """Facts that belong under a table: how each server was set up, then what happened
    in each scenario (starved connections, missing features, failures); front=True: the
    behind-nginx group's, asgi=True: the ASGI group's, ws=True: the WebSocket group's."""
    entries = fronted(results) if front else family(results, mixed, asgi, ws)
    lines = config_lines(entries)
    for ent in entries:
        parts = []
        if ent.get("note"):
            parts.append(ent["note"])
        for r in ent["results"]:
            extra = list(dict.fromkeys(r.get("notes", [])))
            sm = r.get("summary") or {}
            if sm.get("starved"):
                extra.append("starved %d/%d %s: they waited up to %.1f s while %s p99 was %s"
                             % (sm["starved"], sm.get("watched") or CANARIES,
                                "clients" if ent.get("mix") else "canaries",
                                sm["canary_max_wait_s"],
                                "the requests'" if ent.get("mix") else "wrk's",
                                fmt_ms(sm["p99_us"])))
            if r.get("error_late"):
                extra.append("after %d round(s): %s" % (len(r["rounds"]), r["error_late"]))
            wrong = ws_errors(r.get("rounds", []))
            if wrong:
                extra.append("WebSocket errors over its runs: %s" % wrong)
            if extra:
                parts.append("%s: %s" % (r["label"], "; ".join(extra)))
        for msg in ent.get("omitted", []):
            parts.append(msg)
        if ent.get("interface") == "ws":
            load = client_load_note(ent)
            if load:
                parts.append(load)
        ref = reference_note(ent)
        if ref:
            parts.append(ref)
        if parts:
            lines.append("%s — %s" % (ent["name"], ". ".join(parts)))
    return lines


# wsload.c's error counts, in the order and words the notes use
WS_ERRORS = (("handshake_failed", "failed upgrades"), ("bad_frames", "bad frames"),
             ("mismatched", "echoes that differ"), ("closed_by_server", "closed by the server"),
             ("eof", "connections dropped"), ("read_errors", "read errors"))


def ws_errors(runs):
    """What went wrong on the WebSocket connections of a server's runs, summed ("" when
    nothing did); wsload.c counts each apart (its "ws" object)."""
    total = collections.Counter()
    for rep in runs:
        total.update({k: v for k, v in rep.get("ws", {}).items() if k in dict(WS_ERRORS)})
        total["timeouts"] += rep.get("errors", {}).get("timeout", 0) if "ws" in rep else 0
    words = WS_ERRORS + (("timeouts", "echoes not back within the timeout"),)
    return ", ".join("%d %s" % (total[k], w) for k, w in words if total[k])


def client_load_note(ent):
    """How busy the load generator was against each server (its CPU time over the run's
    wall time, median over runs): near 100% of a core, the client and not the server
    may have set the pace."""
    shares = []
    for r in ent["results"]:
        runs = [x for x in r.get("rounds", []) if x.get("wall_s")]
        if runs:
            share = sorted(x["wrk_cpu_s"] / x["wall_s"] for x in runs)[len(runs) // 2]
            shares.append("%s %.0f%%" % (r["label"], 100 * share))
    return "wsload.c's CPU, share of one core (median over runs): " + ", ".join(shares) \
        if shares else ""


def reference_note(ent):
    """How steady the noise reference was in one scenario's rounds."""
    ref = ent.get("reference")
    if not ref:
        return ""
    rounds = ent.get("rounds") or []
    text = "noise reference %.0f req/s (median), spread %.0f%% over %d rounds" % (
        ref["median"], 100 * (ref.get("spread") or 0), len(rounds))
    if ref.get("retried"):
        text += ", %d round(s) measured again" % ref["retried"]
    flagged = [r["round"] + 1 for r in rounds if r.get("flagged")]
    if flagged:
        text += "; rounds %s stayed more than %.0f%% off%s" % (
            ", ".join(map(str, flagged)), 100 * ref["limit"],
            ", all kept" if ref.get("used_all") else " and are left out of the ratios")
    return text


def tuning_lines(results):
    """One line per tuned peer and scenario kind: the variant kept, its flags, why."""
    lines = []
    for kind, rec in (results.get("tuning") or {}).items():
        for key, t in rec.items():
            lines.append("%s, %s scenarios (tuned on %s): %s `%s` — %s; %s" % (
                t["label"], kind, t["scenario"], t["chosen"], " ".join(t["chosen_flags"])
                or "(no extra flags)", t["chosen_what"], t["reason"]))
    return lines


def markdown_table(results, mixed=False, asgi=False, ws=False):
    columns = columns_of(mixed, ws)
    rows = table_rows(family(results, mixed, asgi, ws), columns)
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(columns) - 2)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# The behind-nginx group (nginx_front.py): every server on each of its transports, then
# each peer's best transport against uwsgi-fast's best.

NGINX_HEADER = ("Behind nginx: one nginx (worker_processes 1, access_log off, upstream "
                "keep-alive for HTTP) in front of every server; wrk loads nginx. CPU: the "
                "server's process tree; nginx's apart")
NGINX_COLUMNS = ["scenario", "server", "transport", "req/s", "p99", "errors", "starved",
                 "CPU s/10k req", "nginx CPU s/10k", "x its best", "95% CI", "choose"]
NGINX_BEST_COLUMNS = ["scenario", "server", "best transport", "req/s", "p99",
                      "CPU s/10k req", "x uwsgi-fast's best", "95% CI", "lead"]


def nginx_rows(results):
    """(transport rows, best-against-best rows) of strings for the group's two tables: every
    row with its ratio to its server's best transport and whether to choose it; every
    peer's best transport with its ratio to uwsgi-fast's best."""
    import nginx_front  # noqa: E402  (registers the rows' labels)
    rows, best = [], []
    for ent in fronted(results):
        res = {r["server"]: r for r in ent["results"]}
        choice = ent.get("choice") or {}
        picked = {t["server"]: t for t in choice.get("transports", [])}
        for key, r in res.items():
            t = nginx_front.TRANSPORT.get(key)
            server = nginx_front.BACKEND_LABELS.get(t.backend, key) if t else r["label"]
            what = t.what if t else ""
            if "summary" not in r:
                rows.append([ent["name"], server, what, r.get("error", "no result")]
                            + [""] * (len(NGINX_COLUMNS) - 4))
                continue
            sm = r["summary"]
            p = picked.get(key)
            rs = p["vs_best"] if p else None
            rows.append([ent["name"], server, what, "%.0f" % sm["rps"], fmt_ms(sm["p99_us"]),
                         fmt_errors(sm), "-" if sm.get("starved") is None else "%d/%d" % (
                             sm["starved"], sm.get("watched") or CANARIES),
                         fmt_cpu(sm), "-" if sm.get("front_cpu_s_per_10k") is None else
                         "%.2f" % sm["front_cpu_s_per_10k"],
                         "1.00x" if p and p["best"] else fmt_ratio(rs),
                         fmt_ci(rs), nginx_front.choice_word(p) if p else "-"])
        uf = choice.get("best", {}).get(BASE)
        if uf and "summary" in res.get(uf, {}):
            sm = res[uf]["summary"]
            best.append([ent["name"], "uwsgi-fast", nginx_front.TRANSPORT[uf].what,
                         "%.0f" % sm["rps"], fmt_ms(sm["p99_us"]), fmt_cpu(sm), "1.00x",
                         "-", "-"])
        for v in choice.get("best_vs_best", []):
            sm = res[v["server"]]["summary"]
            rs = v["ratio"]
            best.append([ent["name"], nginx_front.BACKEND_LABELS[v["backend"]],
                         nginx_front.TRANSPORT[v["server"]].what, "%.0f" % sm["rps"],
                         fmt_ms(sm["p99_us"]), fmt_cpu(sm), fmt_ratio(rs), fmt_ci(rs),
                         fmt_lead(rs)])
    return rows, best


def _text(columns, rows, left=3):
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            if cell and not (i == left and len(row) > left + 1 and not row[left + 1]):
                widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(columns)),
             "  ".join("-" * w for w in widths)]
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            lines.append("")
        prev = row[0]
        if len(row) > left + 1 and row[left] and not row[left + 1]:  # a failure
            lines.append("  ".join([c.ljust(widths[i]) for i, c in enumerate(row[:left])]
                                   + [row[left]]))
        else:
            lines.append("  ".join(c.rjust(widths[i]) if i >= left else c.ljust(widths[i])
                                   for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def nginx_text_tables(results):
    rows, best = nginx_rows(results)
    out = _text(NGINX_COLUMNS, rows)
    if best:
        out += "\n\nEach server's best transport against uwsgi-fast's best:\n"
        out += _text(NGINX_BEST_COLUMNS, best)
    return out


def nginx_markdown(results):
    """The group's two tables in Markdown (docs/benchmarks.md, "Behind nginx")."""
    rows, best = nginx_rows(results)
    out = []
    for columns, body, left in ((NGINX_COLUMNS, rows, 3), (NGINX_BEST_COLUMNS, best, 3)):
        if not body:
            continue
        out += ["| " + " | ".join(columns) + " |",
                "|" + "|".join(["---"] * left + ["---:"] * (len(columns) - left)) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        out.append("")
    return "\n".join(out).rstrip()
