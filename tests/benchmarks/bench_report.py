"""Turns the suite's raw results into figures (median, min, max, n; ratios pair by pair), the
chart of a canary run and docs/benchmarks.md. Called by ``python -m tests.benchmarks``; can be
re-run on a saved results.json:

    .venv/bin/python -m tests.benchmarks.bench_report docs/benchmarks/results.json
"""
import json
import os
import sys

from tests.benchmarks.common import KCORE_PEER, OURS, ROOT, SPEC, relative_spread, spread

PEERS = (OURS, SPEC, KCORE_PEER)
LABEL = {OURS: "ours", SPEC: "spec scripts", KCORE_PEER: "kubernetes.core"}
CHART = "canary-rollback.png"


# ------------------------------------------------------------------ figures


def of_peer(runs, peer, key, only_ok=True, digits=3):
    return spread([r.get(key) for r in runs if r["peer"] == peer and (r["ok"] or not only_ok)], digits)


def by_peer(runs, key, only_ok=True, digits=3):
    return {peer: of_peer(runs, peer, key, only_ok, digits) for peer in PEERS}


def ratios(figure):
    """ours / peer for each peer (medians); < 1 means ours is smaller (faster, fewer, lighter)."""
    ours = figure.get(OURS)
    out = {}
    for peer in (SPEC, KCORE_PEER):
        other = figure.get(peer)
        if ours and other and ours.get("median") is not None and other.get("median"):
            out[peer] = round(ours["median"] / other["median"], 2)
        else:
            out[peer] = None
    return out


def failed_requests(runs):
    """Failed requests per peer over all its runs (users see failures whatever the outcome)."""
    out = {}
    for peer in PEERS:
        mine = [r for r in runs if r["peer"] == peer and r.get("traffic")]
        if not mine:
            continue
        requests = sum(r["traffic"]["requests"] for r in mine)
        bad = sum(r["traffic"]["failed"] for r in mine)
        outside = sum(r.get("failed_split", {}).get("outside_stalls", r["traffic"]["failed"]) for r in mine)
        out[peer] = {"requests": requests, "failed": bad, "failed_outside_sandbox_stalls": outside,
                     "runs": len(mine), "per_run": spread([r["traffic"]["failed"] for r in mine], 0),
                     "per_run_outside_stalls": spread(
                         [r.get("failed_split", {}).get("outside_stalls", r["traffic"]["failed"]) for r in mine], 0),
                     "ratio": round(bad / requests, 6) if requests else None}
    return out


def outcomes(runs, success=lambda r: r["ok"]):
    out = {}
    for peer in PEERS:
        mine = [r for r in runs if r["peer"] == peer]
        if mine:
            out[peer] = {"runs": len(mine), "succeeded": sum(1 for r in mine if success(r)),
                         "failures": [r.get("failure") for r in mine if not success(r)][:5]}
    return out


def figures(report):
    benches = report.get("benches", {})
    fig = {}
    bg = benches.get("bluegreen")
    if bg:
        runs = bg["runs"]
        fig["switch_latency_s"] = by_peer(runs, "switch_latency_s")
        fig["switch_to_first_new_s"] = by_peer(runs, "to_first_new_s")
        fig["mixed_versions_s"] = by_peer(runs, "mixed_versions_s")
        fig["bg_failed_requests"] = failed_requests(runs)
        fig["bg_overhead_s"] = by_peer(runs, "overhead_s")
        fig["bg_wall_s"] = by_peer(runs, "wall_s")
        fig["bg_peak_rss_mib"] = by_peer(runs, "peak_rss_mib", only_ok=False, digits=1)
        fig["bg_outcomes"] = outcomes(runs)
        fig["bg_live_colour_rolled"] = {peer: sum(1 for r in runs if r["peer"] == peer and r.get("live_deployment_rolled"))
                                        for peer in PEERS}
        fig["bg_new_version_in_failed_runs"] = {
            peer: sum(r.get("new_version_responses", 0) for r in runs if r["peer"] == peer and not r["ok"])
            for peer in PEERS}
        failed_spec = [r for r in runs if r["peer"] == SPEC and not r["ok"]]
        targets = [r.get("smoke_test_target") for r in failed_spec]
        fig["spec_smoke_targets_of_failed_runs"] = {
            "failed_runs": len(failed_spec),
            "terminating_or_old_pod": sum(1 for r in failed_spec if r.get("smoke_test_target") and (
                r["smoke_test_target"].get("terminating") or r["smoke_test_target"].get("version") != r["version"])),
            "targets": targets}
    canary = benches.get("canary")
    if canary:
        runs = canary["runs"]
        fig["canary_failed_requests"] = failed_requests(runs)
        fig["canary_overhead_s"] = by_peer(runs, "overhead_s")
        fig["canary_wall_s"] = by_peer(runs, "wall_s")
        fig["canary_peak_rss_mib"] = by_peer(runs, "peak_rss_mib", only_ok=False, digits=1)
        fig["canary_outcomes"] = outcomes(runs, lambda r: r["ok"] and r.get("promoted"))
    failing = benches.get("failing")
    if failing:
        runs = failing["runs"]
        fig["detection_to_rollback_s"] = by_peer(runs, "detection_to_rollback_s", only_ok=False)
        fig["failed_requests_exposed"] = by_peer(runs, "failed_requests_exposed", only_ok=False, digits=0)
        fig["failing_peak_rss_mib"] = by_peer(runs, "peak_rss_mib", only_ok=False, digits=1)
        fig["failing_outcomes"] = outcomes(runs, lambda r: r.get("detected"))
        fig["failure_to_decision_s"] = by_peer(runs, "failure_to_decision_s", only_ok=False)
        fig["decision_to_weight_zero_s"] = by_peer(runs, "decision_to_weight_zero_s", only_ok=False)
    tasks = benches.get("tasks")
    if tasks:
        fig["per_task_ms"] = {pair: dict(values["warm_ms"], ratio=_task_ratio(values["warm_ms"]))
                              for pair, values in tasks["pairs"].items()}
        fig["per_task_cold"] = {pair: dict(values["cold"]) for pair, values in tasks["pairs"].items()}
        fig["per_task_kubectl_ms"] = {pair: values["kubectl_ms"] for pair, values in tasks["pairs"].items()
                                      if values.get("kubectl_ms")}
    scale = benches.get("scale")
    if scale:
        one = scale["by_size"].get("1", {}).get("wall_s")
        fig["scale"] = {size: dict(values, vs_one=(round(values["wall_s"]["median"] / one["median"], 2)
                                                   if one and one.get("median") and values["wall_s"]["median"]
                                                   else None))
                        for size, values in scale["by_size"].items()}
    for key in list(fig):
        value = fig[key]
        if isinstance(value, dict) and OURS in value and isinstance(value[OURS], dict) and "median" in value[OURS]:
            fig[key + "_ratios"] = ratios(value)
    return fig


def _task_ratio(warm):
    if "ours" in warm and "kcore" in warm and warm["kcore"].get("median"):
        return round(warm["ours"]["median"] / warm["kcore"]["median"], 2)
    return None


# ------------------------------------------------------------------ chart


def _median_run(runs, peer, key):
    mine = sorted((r for r in runs if r["peer"] == peer and r.get(key) is not None and r.get("series")),
                  key=lambda r: r[key])
    return mine[len(mine) // 2] if mine else None


def chart(report, path):
    """Traffic share per version and error ratio per second of a failing canary run (ours, the
    run with the median detection time) next to the specification's script, with the weight
    changes, the first failure of the canary and the rollback marked."""
    failing = report.get("benches", {}).get("failing")
    if not failing:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [(peer, _median_run(failing["runs"], peer, "detection_to_rollback_s")) for peer in (OURS, SPEC)]
    columns = [(peer, run) for peer, run in columns if run]
    if not columns:
        return None
    fig, axes = plt.subplots(2, len(columns), figsize=(6.5 * len(columns), 6.5), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    for col, (peer, run) in enumerate(columns):
        share_ax, error_ax = axes[0][col], axes[1][col]
        series = run["series"]
        times = [p["t"] for p in series]
        canary, stable = run["series_versions"]["canary"], run["series_versions"]["stable"]
        canary_share = [p["share"].get(canary, 0) * 100 for p in series]
        stable_share = [p["share"].get(stable, 0) * 100 for p in series]
        other_share = [max(0.0, 100 - c - s) for c, s in zip(canary_share, stable_share)]
        share_ax.step(times, stable_share, where="post", color="#4c72b0", label="stable %s" % stable)
        share_ax.step(times, canary_share, where="post", color="#dd8452", label="canary %s" % canary)
        if any(other_share):
            share_ax.step(times, other_share, where="post", color="#999999", label="no answer")
        share_ax.set_ylim(0, 102)
        share_ax.set_ylabel("share of responses (%)")
        share_ax.set_title("%s: canary %s rolled back after %.1f s" % (LABEL[peer], canary,
                                                                      run["detection_to_rollback_s"]))
        error_ax.step(times, [p["error_ratio"] * 100 for p in series], where="post", color="#c44e52")
        error_ax.set_ylabel("failed responses (%)")
        error_ax.set_xlabel("seconds since the run started (200 requests/s)")
        error_ax.set_ylim(bottom=0)
        for ax in (share_ax, error_ax):
            last = None
            for t, weight in run["weights_seen"]:
                if t < 0 or weight == last:
                    last = weight
                    continue
                rollback = weight in ("0", None) and last not in ("0", None)
                ax.axvline(t, color="#c44e52" if rollback else "#555555", linestyle="-" if rollback else "--",
                           linewidth=1.2)
                if ax is share_ax:
                    ax.annotate("rollback: weight 0" if rollback else "weight %s" % weight, (t, 90), rotation=90,
                                va="top", ha="right", fontsize=8)
                last = weight
            if run.get("first_canary_failure_at_s") is not None:
                ax.axvline(run["first_canary_failure_at_s"], color="#8172b3", linestyle=":", linewidth=1.2)
                if ax is share_ax:
                    ax.annotate("canary starts failing", (run["first_canary_failure_at_s"], 50), rotation=90,
                                va="top", ha="right", fontsize=8, color="#8172b3")
        share_ax.legend(loc="center left", fontsize=8)
    fig.suptitle("Canary with 50%% 5xx (%s) under 200 requests/s: ours (analysis every %ss, failure limit %s) "
                 "vs the specification's script (SOAK_TIME %ss)" % (
                     failing["runs"][0]["version"].split("-", 1)[-1], report["settings"]["analysis_interval"],
                     report["settings"]["failure_limit"], report["settings"]["soak"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ Markdown


def cell(figure, unit="", digits=None):
    if not figure or figure.get("median") is None:
        return "—"
    fmt = (lambda v: ("%%.%df" % digits) % v) if digits is not None else (lambda v: "%g" % v)
    return "%s%s (%s–%s, n=%d)" % (fmt(figure["median"]), unit, fmt(figure["min"]), fmt(figure["max"]), figure["n"])


def ratio_cell(value):
    return "—" if value is None else "%.2f" % value


def row(number, name, figure, unit, digits=1):
    if not figure:
        return None
    rat = ratios(figure)
    return "| %s | %s | %s | %s | %s | %s | %s |" % (
        number, name, cell(figure.get(OURS), unit, digits), cell(figure.get(SPEC), unit, digits),
        cell(figure.get(KCORE_PEER), unit, digits), ratio_cell(rat[SPEC]), ratio_cell(rat[KCORE_PEER]))


def failed_cell(counts):
    if not counts:
        return "—"
    return "%d of %d (%d outside sandbox stalls; per run %s)" % (
        counts["failed"], counts["requests"], counts["failed_outside_sandbox_stalls"],
        cell(counts["per_run"], "", 0))


def peers_text(values, unit="", digits=None, suffix=""):
    """One figure for every peer on a line: "ours 0.56 s (...); spec scripts ...; kubernetes.core ..."."""
    return "; ".join("%s %s%s" % (LABEL[p], cell(values[p], unit, digits), suffix) for p in PEERS)


def outcome_text(outs):
    return "; ".join("%s %d/%d" % (LABEL[p], o["succeeded"], o["runs"]) for p, o in outs.items())


def noise_rows(fig):
    lines = []
    for key in ("switch_latency_s", "detection_to_rollback_s", "bg_overhead_s", "canary_overhead_s", "bg_wall_s",
                "canary_wall_s"):
        for peer in PEERS:
            value = (fig.get(key) or {}).get(peer)
            spread_value = relative_spread(value)
            if spread_value is not None:
                lines.append("| %s | %s | %s | %.0f %% |" % (key, LABEL[peer], cell(value, "", 2), spread_value * 100))
    return lines


def markdown(report, fig, chart_name):
    s = report["settings"]
    git = report.get("git", {})
    out = []
    add = out.append
    add("# Benchmarks")
    add("")
    add("Generated by the benchmark suite - do not edit by hand. Regenerate with:")
    add("")
    add("```sh")
    add("make bench          # = .venv/bin/python -m tests.benchmarks (full: 5+ runs of everything, ~1 h on 2 cores)")
    add(".venv/bin/python -m tests.benchmarks --quick   # 1 run of each, small N: to try it")
    add("```")
    add("")
    add("This report: `%s`, started %s, finished %s (%.0f min), git commit `%s`%s." % (
        report["command"], report["started_at"], report.get("finished_at", "?"),
        report.get("suite_seconds", 0) / 60, git.get("commit") or "?",
        (" with %d uncommitted file(s) in the working tree" % git["uncommitted_files"])
        if git.get("uncommitted_files") else ""))
    if s["quick"]:
        add("")
        add("**Quick mode: 1 run of each figure, small N. These numbers only prove the suite works; "
            "run `make bench` for figures.**")
    add("")
    add("## How noisy the machine was")
    add("")
    if report.get("other_work_before") or report.get("other_work_after"):
        add("**Other work (sandboxes, pytest, ansible-playbook runs that are not this suite's) ran on the "
            "machine during this report: its figures are noisier than a quiet machine's.** Evidence:")
    else:
        add("No other sandbox, pytest or ansible-playbook run was seen on the machine before or after the "
            "suite (it is a shared 2-core machine: background load can still have varied). Evidence:")
    add("")
    add("- load before: `%s`" % report["load_before"]["uptime"])
    add("- load after: `%s`" % report.get("load_after", {}).get("uptime", "?"))
    add("- other work seen (processes that are not this suite's): before %s, after %s" % (
        json.dumps(report.get("other_work_before", {})), json.dumps(report.get("other_work_after", {}))))
    add("- machine: %s, %s CPUs, %s GiB RAM, Python %s" % (
        report["machine"]["platform"], report["machine"]["cpus"], report["machine"]["memory_gib"],
        report["machine"]["python"]))
    for name, key in (("blue-green", "bluegreen"), ("canary", "canary")):
        idle = report.get("benches", {}).get(key, {}).get("idle")
        if idle:
            add("- the same load with no rollout at all (%s bench, %d s): %d of %d requests failed, p50 %s ms, "
                "p99 %s ms, max %s ms" % (name, idle["seconds"], idle["traffic"]["failed"],
                                          idle["traffic"]["requests"], idle["latency_ms"]["p50"],
                                          idle["latency_ms"]["p99"], idle["latency_ms"]["max"]))
    add("- spread of the main figures, (max − min) / median:")
    add("")
    add("| figure | peer | median (min–max, n) | spread |")
    add("| --- | --- | --- | --- |")
    out.extend(noise_rows(fig))
    add("")
    add("## Summary")
    add("")
    add("Each cell: median (min–max, n runs). Ratios are ours ÷ peer of the medians: below 1 means ours "
        "is lower (faster, fewer failures, less overhead, less memory).")
    add("")
    add("| # | figure | ours | spec scripts | kubernetes.core | ours ÷ spec | ours ÷ kubernetes.core |")
    add("| --- | --- | --- | --- | --- | --- | --- |")
    rows = [
        row("1", "blue-green switch latency (s)", fig.get("switch_latency_s"), " s", 2),
        row("2", "detection-to-rollback (s)", fig.get("detection_to_rollback_s"), " s", 2),
        row("2", "failed requests while the bad canary served", fig.get("failed_requests_exposed"), "", 0),
        row("4", "control overhead, blue-green (s)", fig.get("bg_overhead_s"), " s", 1),
        row("4", "control overhead, canary (s)", fig.get("canary_overhead_s"), " s", 1),
        row("7", "peak RSS, blue-green (MiB)", fig.get("bg_peak_rss_mib"), "", 0),
        row("7", "peak RSS, canary (MiB)", fig.get("canary_peak_rss_mib"), "", 0),
    ]
    out.extend(r for r in rows if r)
    for key, name in (("bg_failed_requests", "failed requests, healthy blue-green"),
                      ("canary_failed_requests", "failed requests, healthy canary 5→100 %")):
        counts = fig.get(key)
        if counts:
            add("| 3 | %s | %s | %s | %s | | |" % (name, failed_cell(counts.get(OURS)), failed_cell(counts.get(SPEC)),
                                                  failed_cell(counts.get(KCORE_PEER))))
    add("")
    if fig.get("per_task_ms"):
        add("| 5 | per task (warm, ms) | ours | kubernetes.core | ours ÷ kubernetes.core |")
        add("| --- | --- | --- | --- | --- |")
        for pair, values in fig["per_task_ms"].items():
            add("| 5 | %s | %s | %s | %s |" % (pair, cell(values.get("ours"), "", 0), cell(values.get("kcore"), "", 0),
                                               ratio_cell(values.get("ratio"))))
        add("")
    if fig.get("scale"):
        add("| 6 | applications in one run | wall time (s) | ÷ one application | peak RSS (MiB) |")
        add("| --- | --- | --- | --- | --- |")
        for size, values in sorted(fig["scale"].items(), key=lambda kv: int(kv[0])):
            add("| 6 | %s | %s | %s | %s |" % (size, cell(values["wall_s"], "", 1), ratio_cell(values["vs_one"]),
                                               cell(values["peak_rss_mib"], "", 0)))
        add("")
    add("## Settings")
    add("")
    add("- One fresh sandbox (`python -m tests.sandbox up` in a new state directory under /tmp), the "
        "application bootstrapped by `playbooks/bootstrap.yml` (blue active, green standby, 3 replicas each; "
        "canary at 0 replicas), brought down at the end.")
    add("- Load: the sandbox load generator, %d requests/s through the ingress (`Host: %s`, a new "
        "connection per request, 5 s timeout), from %.0f s before each run to %.0f s after it. A second "
        "load of 10 requests/s goes to a control application (namespace bench-control) that no peer touches: "
        "a failed request of the main load within 2 s of a failed control request is counted as a sandbox "
        "stall, not as the peer's." % (s["rps"], "api.research-lab.example.com", s["lead_in"], s["lead_out"]))
    add("- Every configured wait is %s s: our canary soak per stage and blue-green stabilisation window "
        "(`deploy_soak_seconds`), the scripts' `SOAK_TIME` and 30 s stabilisation sleep, the kubernetes.core "
        "playbook's pauses - the specification's 300 s soak scaled 1:%.0f (the sandbox runs probes 10x faster)."
        % (s["soak"], 300.0 / s["soak"]))
    add("- Ours: `deploy_analysis_interval=%s`, `deploy_analysis_window=%s`, `canary_failure_limit=%s`, "
        "reports to a temporary directory; everything else as the sandbox inventory sets it (smoke tests on, "
        "notifications to the sandbox's webhook sink)." % (s["analysis_interval"], s["analysis_window"],
                                                           s["failure_limit"]))
    add("- %d run(s) of each figure (rounds rotate the order of the peers so that changes of the machine's load "
        "hit them alike); a peer whose runs fail gets extra attempts, up to %d in all, so that its figures still "
        "have %d successful runs where it can." % (s["runs"], s["max_attempts"], s["runs"]))
    add("")
    add("## The peers")
    add("")
    add("- **ours**: `playbooks/blue_green.yml`, `playbooks/canary.yml` (its rollback path is the canary role's "
        "abort; `playbooks/rollback.yml` uses the same tasks).")
    add("- **spec scripts**: `tests/benchmarks/peers/spec-scripts/` - the specification's `deploy-blue-green.sh`, "
        "`deploy-canary.sh`, `rollback-canary.sh` and the `smoke-tests.sh` the blue-green script calls, changed "
        "only to reach the sandbox; each change is listed in the script's header and marked `# SANDBOX:`. Their "
        "defects are kept: 5xx rate compared with 0.05, empty result = \"0\", colour read from `selector.version` "
        "but written to `selector.environment`, one check after each soak.")
    add("- **kubernetes.core**: `tests/benchmarks/peers/kubernetes_core/` - the same procedures written only with "
        "kubernetes.core modules (k8s state=patched with wait, k8s_scale, k8s_info, k8s_rollback) and "
        "ansible.builtin (uri, pause). Where the scripts are wrong it does what a careful user would: one selector "
        "key read and written, a real error ratio (5xx / all requests of the new colour or canary, over the same "
        "%s window as ours), no data fails, p99 against 2x the stable p99 floored at 50 ms; like the scripts it "
        "checks once after each soak, has no lease, no report." % s["analysis_window"])
    curl = report.get("spec_curl_as_written")
    if curl:
        add("- The canary script's queries as written (`curl -s '...{...}[5m]'`) exit %d on this machine: %s. "
            "Under `set -euo pipefail` the script would die at its first check, leaving the canary at 5 %%; "
            "the peer adds `-g` (see its header)." % (curl["exit_code"], (curl["stderr"] or "curl reads the "
                                                                          "braces and [5m] as URL globs")[:120]))
    add("")
    sections(report, fig, chart_name, add)
    return "\n".join(out) + "\n"


def sections(report, fig, chart_name, add):
    s = report["settings"]
    add("## 1. Switch latency (blue-green)")
    add("")
    add("From the start of the switch to the first request after which every response carries the new "
        "`X-App-Version`, from the load generator's records. The start of the switch is the start of the peer's "
        "switch step (our `service_selector` task, the kubernetes.core playbook's `[5/7]` task, the script's "
        "`[5/7] Switching traffic` line) or the first response of the new version, whichever is earlier.")
    add("")
    for key, name in (("switch_latency_s", "switch latency"), ("switch_to_first_new_s", "to the first new response"),
                      ("mixed_versions_s", "both versions answering (first new → all new)")):
        if fig.get(key):
            add("- %s: %s" % (name, peers_text(fig[key], " s", 2)))
    if fig.get("bg_outcomes"):
        add("- runs that completed: %s" % outcome_text(fig["bg_outcomes"]))
        add("- runs that rolled the colour serving traffic instead of the idle one: %s" % "; ".join(
            "%s %d" % (LABEL[p], n) for p, n in fig["bg_live_colour_rolled"].items()))
        add("- responses of the new version users got in runs that failed (and were undone): %s" % "; ".join(
            "%s %d" % (LABEL[p], n) for p, n in fig["bg_new_version_in_failed_runs"].items()))
        targets = fig.get("spec_smoke_targets_of_failed_runs") or {}
        if targets.get("failed_runs"):
            add("- failed runs of the specification's script whose smoke test targeted a terminating pod or a pod "
                "of the old version (`kubectl get pods -l environment=... -o jsonpath='{.items[0]...}'` right after "
                "`rollout status`): %d of %d; the targets, as the suite's poller saw them: %s" % (
                    targets["terminating_or_old_pod"], targets["failed_runs"], "; ".join(
                        "%s (%s%s%s)" % (t.get("name"), t.get("version"), ", terminating" if t.get("terminating") else "",
                                         ", ready" if t.get("ready") else ", not ready")
                        for t in targets["targets"] if t)))
    add("")
    add("Shows: how long users see the old (or both) versions once a peer starts switching. Does not show: "
        "the time to get there (rollout, smoke tests: see control overhead). Our switch step includes the "
        "module's check that the new selector matches ready pods and its compare-and-swap; the kubernetes.core "
        "step is one patch. The specification's script reads the colour from `selector.version`, which the "
        "Service does not have, concludes that green is live and rolls the live blue Deployment in place, so "
        "its \"switch\" is a rolling update (users see both versions while it runs) and its `[5/7]` patch changes "
        "nothing.")
    add("")
    add("## 2. Detection-to-rollback time")
    add("")
    add("A canary image that answers 50 %% of API calls with 5xx; from the first 5xx the canary served to the "
        "first request after its last answer (0 %% of traffic on it). Ours analyses every %s s with failure limit "
        "%s (our smoke test through the ingress is off for these runs - on, it stops such a canary before any "
        "user traffic); the peers check once after each %s s soak." % (
            s["analysis_interval"], s["failure_limit"], s["soak"]))
    add("")
    if fig.get("detection_to_rollback_s"):
        add("- detection-to-rollback: %s" % peers_text(fig["detection_to_rollback_s"], " s", 2))
        add("- failed requests users got meanwhile: %s" % peers_text(fig["failed_requests_exposed"], "", 0))
        add("- of which from the first failure to the decision to roll back (our gate task ending with the "
            "breach, the kubernetes.core check task failing, the script's `ROLLBACK TRIGGERED` line): %s"
            % peers_text(fig["failure_to_decision_s"], " s", 2))
        add("- and from the decision to weight 0 on the Ingress (as the suite's poller saw it): %s"
            % peers_text(fig["decision_to_weight_zero_s"], " s", 2))
        add("- runs that detected the failure and rolled back: %s" % outcome_text(fig["failing_outcomes"]))
    add("")
    add("Shows: with a soak of %s s the peers need the whole soak plus their check; ours stops at the first "
        "breaches (interval x (failure limit + 1), plus Prometheus' scrape and rate window) whatever the soak. "
        "At the specification's 300 s soak the scripts would take about 300 s plus their check, while ours "
        "would not change (not measured here: extrapolated from how each one works). Does not show: latency "
        "regressions (the p99 check) or a canary that fails only under more weight." % s["soak"])
    add("")
    if chart_name:
        add("![Failing canary: share of responses per version and failed responses per second](benchmarks/%s)"
            % chart_name)
        add("")
        add("Each column is the run with the median detection time. Dashed lines: the canary weight as the "
            "suite's poller saw it on the Ingress (every 0.2 s); red: the rollback (weight back to 0); dotted: "
            "the first 5xx of the canary.")
        add("")
    add("## 3. Failed requests during healthy rollouts")
    add("")
    add("Every request of the load during each healthy run (a 5xx or no answer within 5 s counts as failed), "
        "over all runs of each peer.")
    add("")
    for key, name in (("bg_failed_requests", "blue-green"), ("canary_failed_requests", "canary 5 → 100 %")):
        counts = fig.get(key)
        if counts:
            add("- %s: %s" % (name, "; ".join("%s %s" % (LABEL[p], failed_cell(counts.get(p))) for p in PEERS
                                               if counts.get(p))))
    if fig.get("canary_outcomes"):
        add("- healthy canaries promoted: %s" % outcome_text(fig["canary_outcomes"]))
    add("")
    add("Shows: whether a peer drops requests while moving traffic. Does not show: failures that only a real "
        "ingress-nginx or kube-proxy would cause (the sandbox's proxies are its own); on a loaded machine "
        "the sandbox itself stalls at times (every application fails at once, see the control load), which is "
        "why failures inside such stalls are counted apart.")
    add("")
    add("## 4. Control overhead")
    add("")
    add("Whole-run wall time minus the configured waits (ours: %s soaks of %s s in a canary, one %s s window in "
        "blue-green; the peers: 3 soaks, one sleep), successful runs only. It is everything a peer does besides "
        "waiting on purpose: its own work (Ansible start-up and task overhead, modules, queries, smoke tests, "
        "lease, report, notifications) and the cluster's (rolling out pods), which is about the same for all." % (
            4, s["soak"], s["soak"]))
    add("")
    for key, name in (("bg_overhead_s", "blue-green overhead"), ("bg_wall_s", "blue-green wall time"),
                      ("canary_overhead_s", "canary overhead"), ("canary_wall_s", "canary wall time")):
        if fig.get(key):
            add("- %s: %s" % (name, peers_text(fig[key], " s", 1)))
    add("")
    add("Shows: what our extra steps (strict rollout waits, smoke tests, compare-and-swap, lease records, "
        "verdict queries, report, notification) cost in time against a script and a bare playbook. Does not "
        "show: the value of those steps; Ansible's per-task cost dominates on this slow machine.")
    add("")
    if fig.get("per_task_ms"):
        add("## 5. Per-task overhead of our modules")
        add("")
        add("Each module against the kubernetes.core task making the same change, in namespace bench-tasks. Warm: "
            "one playbook with %d tasks of each, interleaved, after a warm-up task of each; a task's time is its "
            "start-to-end in the ansible.posix.json callback. Cold: one-task playbooks, whole `ansible-playbook` "
            "wall time and the task's time." % report["benches"]["tasks"]["warm_runs"])
        add("")
        add("| module pair | ours warm (ms) | kubernetes.core warm (ms) | ours ÷ k.c | `kubectl patch` (ms) | "
            "ours cold run (s) | kubernetes.core cold run (s) |")
        add("| --- | --- | --- | --- | --- | --- | --- |")
        for pair, values in fig["per_task_ms"].items():
            cold = fig["per_task_cold"].get(pair, {})
            add("| %s | %s | %s | %s | %s | %s | %s |" % (
                pair, cell(values.get("ours"), "", 0), cell(values.get("kcore"), "", 0), ratio_cell(values.get("ratio")),
                cell(fig.get("per_task_kubectl_ms", {}).get(pair), "", 0),
                cell((cold.get("ours") or {}).get("wall_s"), "", 2), cell((cold.get("kcore") or {}).get("wall_s"), "", 2)))
        add("")
        add("Pairs: `service_selector` / `k8s` state=patched on the Service selector; `ingress_canary` / `k8s` "
            "patched canary-weight annotation; `deployment_rollout` wait=false / `k8s` patched container image; "
            "`rollout_lease` acquire / `k8s` patched Lease holder, renew time and stage annotation; `k8s_info` of a "
            "Deployment alone, for the cost of one read. `kubectl patch`: the wall time of one `kubectl patch "
            "--type merge` process making the same change (after one warm-up), what a shell script pays per "
            "step. Values alternate so every task writes. Shows: the price "
            "of our checks (ready endpoints, compare-and-swap, keeping foreign annotations) per call. Does not "
            "show: network latency to a real API server (the sandbox is on loopback).")
        add("")
    if fig.get("scale"):
        add("## 6. Scale")
        add("")
        add("One `playbooks/blue_green.yml` run over N applications (one inventory host per application, "
            "`-f N`), on a second sandbox with the simulated kubelet - see `tests/benchmarks/bench_scale.py` "
            "for why: with real pod processes 20 applications starved this 2-core machine. No smoke test, no "
            "traffic to require (`blue_green_min_requests=0`); analysis window %s s." % s["soak"])
        add("")
        for size, values in sorted(fig["scale"].items(), key=lambda kv: int(kv[0])):
            add("- %s application(s): %s, %s x one, peak RSS %s MiB" % (
                size, cell(values["wall_s"], " s", 1), ratio_cell(values["vs_one"]), cell(values["peak_rss_mib"], "", 0)))
        add("")
        add("Shows: how the controller's cost grows with applications; with 2 cores, N forks compete for CPU, "
            "so beyond a few applications the wall time grows with N. Does not show: a machine with more "
            "cores, or pods that take time to start.")
        add("")
    add("## 7. Peak memory")
    add("")
    add("Peak of the summed RSS of the run's process tree (ansible-playbook and every worker and module "
        "process; bash with kubectl, curl, jq, bc), sampled every 0.1 s.")
    add("")
    for key, name in (("bg_peak_rss_mib", "blue-green"), ("canary_peak_rss_mib", "canary"),
                      ("failing_peak_rss_mib", "failing canary")):
        if fig.get(key):
            add("- %s: %s" % (name, peers_text(fig[key], "", 0, suffix=" MiB")))
    if fig.get("scale"):
        add("- scale: %s" % "; ".join("%s apps %s MiB" % (size, cell(v["peak_rss_mib"], "", 0))
                                      for size, v in sorted(fig["scale"].items(), key=lambda kv: int(kv[0]))))
    add("")
    add("Shows: the controller's footprint. Does not show: short peaks between two samples.")
    add("")
    failures = []
    for key, name in (("bg_outcomes", "blue-green"), ("canary_outcomes", "healthy canary"),
                      ("failing_outcomes", "failing canary")):
        for peer, outs in (fig.get(key) or {}).items():
            for message in outs["failures"]:
                failures.append("- %s, %s: %s" % (name, LABEL[peer], " ".join(str(message).split())[:400]))
    if failures:
        add("## Runs that failed (first messages)")
        add("")
        for line in failures:
            add(line)
        add("")
    if report.get("errors"):
        add("## Benchmarks that did not complete")
        add("")
        for name, error in report["errors"].items():
            add("- %s: %s" % (name, error.splitlines()[0][:400]))
        add("")
    sandbox = report.get("sandbox_bench")
    if sandbox:
        add("## The sandbox's own benchmark")
        add("")
        if sandbox.get("ran"):
            add("`python -m tests.benchmarks.bench_sandbox` (on sandboxes of its own, after this suite): %s%s." % (
                "written to `%s`" % sandbox.get("out") if sandbox.get("ok") else "failed (rc %s)" % sandbox.get("rc"),
                ", %.0f s" % sandbox["seconds"] if sandbox.get("seconds") else ""))
            if sandbox.get("table"):
                add("")
                add("```")
                add(sandbox["table"].strip()[-2500:])
                add("```")
        else:
            add("Not run: %s." % sandbox.get("reason"))
        add("")
    add("Raw results (every run): `docs/benchmarks/results.json`.")


def write(report, out_dir, doc):
    os.makedirs(out_dir, exist_ok=True)
    fig = figures(report)
    report["figures"] = fig
    chart_path = None
    try:
        chart_path = chart(report, os.path.join(out_dir, CHART))
    except Exception as exc:  # the report is still written without the chart
        report.setdefault("errors", {})["chart"] = "chart failed: %r" % (exc,)
    with open(os.path.join(out_dir, "results.json"), "w") as handle:
        json.dump(report, handle, indent=1, default=str)
    with open(doc, "w") as handle:
        handle.write(markdown(report, fig, CHART if chart_path else None))
    return fig


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else os.path.join(ROOT, "docs", "benchmarks", "results.json")
    with open(path) as handle:
        report = json.load(handle)
    write(report, os.path.dirname(os.path.abspath(path)), os.path.join(ROOT, "docs", "benchmarks.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
