"""Canary, side by side: our playbooks/canary.yml, the kubernetes.core-only playbook and the
specification's deploy-canary.sh (+ rollback-canary.sh), under 200 requests/s through the ingress.

Healthy runs (a good version, 5 -> 25 -> 50 -> 100 %): failed requests (figure 3), control
overhead = wall time minus the configured soaks (figure 4), peak RSS (figure 7).
Failing runs (an image that answers 50 % of API calls with 5xx): detection-to-rollback time
(figure 2) = from the first 5xx the canary served to the first request after its last answer
(0 % of traffic on the canary), and the failed requests users saw meanwhile. Ours runs with
analysis interval 2 s and failure limit 1; the peers check once after each soak, as written.
The failing runs also give the chart's data.
"""
import math
import os

from tests.benchmarks.common import (CANARY, KCORE, KCORE_PEER, NS, OURS, ROOT, SPEC, WEIGHT, canary_exposure,
                                     environmental, event_time, failed, idle_window, log, ours_vars, reset_canary,
                                     rounds, run_playbook, run_script, traffic_summary, under_load)

PEERS = (OURS, SPEC, KCORE_PEER)
STAGES = (5, 25, 50, 100)


def configured_waits(settings, peer):
    """Soaks each peer is configured to wait on a full run: ours soaks every stage (4), the
    script and the kubernetes.core playbook every stage but the last (3)."""
    return settings.soak * (len(STAGES) if peer == OURS else len(STAGES) - 1)


def start_peer(sandbox, settings, peer, version, stable, report_dir, failing):
    if peer == OURS:
        extra = {"version": version}
        if failing:
            # Our smoke test through the ingress would stop a bad canary before any user traffic;
            # skip it so the analysis (what figure 2 measures) meets the failure.
            extra["canary_smoke_tests"] = False
        return run_playbook(sandbox, os.path.join(ROOT, "playbooks", "canary.yml"),
                            ours_vars(settings, report_dir, **extra))
    if peer == KCORE_PEER:
        return run_playbook(sandbox, os.path.join(KCORE, "canary.yml"),
                            {"version": version, "soak_seconds": settings.soak,
                             "analysis_window": settings.analysis_window})
    return run_script(sandbox, "deploy-canary.sh", [version], SOAK_TIME=settings.soak, STABLE_DEPLOYMENT=stable)


def decision_time(run, peer):
    """When the peer decided to roll back: the end of our gate task that found the breach, the
    kubernetes.core playbook's failing check task, the script's "ROLLBACK TRIGGERED" line."""
    if peer == SPEC:
        return run.line_time("ROLLBACK TRIGGERED")
    for name, _, end, result in run.tasks():
        if peer == OURS and result.get("action") == "llm_research_lab.deploy.prometheus_gate" and result.get("breached"):
            return end
        if peer == KCORE_PEER and result.get("failed") and not name.startswith("ROLLBACK"):
            return end
    return None


def per_second(rows, t0, versions):
    """Traffic share of each version and the error ratio, per second since t0 (for the chart)."""
    buckets = {}
    for row in rows:
        second = math.floor(row["t"] - t0)
        bucket = buckets.setdefault(second, {"total": 0, "failed": 0, "versions": {}})
        bucket["total"] += 1
        bucket["failed"] += 1 if failed(row) else 0
        key = row["version"] if row["version"] in versions else "other"
        bucket["versions"][key] = bucket["versions"].get(key, 0) + 1
    series = []
    for second in sorted(buckets):
        bucket = buckets[second]
        series.append({"t": second, "requests": bucket["total"],
                       "error_ratio": round(bucket["failed"] / bucket["total"], 4),
                       "share": {k: round(v / bucket["total"], 4) for k, v in bucket["versions"].items()}})
    return series


def run_once(sandbox, settings, peer, version, work_dir, failing):
    stable = reset_canary(sandbox, 1 if peer == SPEC else 0)
    stable_image_before = sandbox.image(stable)
    load_path = os.path.join(work_dir, "canary-%s-%s.jsonl" % (peer.replace(".", "_"), version))
    run, rows, events, control_rows = under_load(sandbox, settings, load_path,
                                   lambda: start_peer(sandbox, settings, peer, version, stable, work_dir, failing))
    weights = [(round(t - run.start, 3), value) for t, key, value in events if key == "weight"]
    stages = [(round(t - run.start, 3), value) for t, key, value in events if key == "stage"]
    canary_dep = sandbox.deployment(CANARY)
    ingress = sandbox.ingress() or {}
    result = {
        "peer": peer, "version": version, "failing": failing, "ok": run.ok, "rc": run.rc,
        "wall_s": round(run.wall, 3), "peak_rss_mib": round(run.peak_rss / 2 ** 20, 1),
        "peak_processes": run.peak_processes, "stable_deployment": stable,
        "promoted": sandbox.image(stable).endswith(":" + version),
        "stable_image_unchanged": sandbox.image(stable) == stable_image_before,
        "final_weight": (ingress.get("metadata", {}).get("annotations") or {}).get(WEIGHT),
        "final_canary_replicas": canary_dep["spec"].get("replicas"),
        "weights_seen": weights, "lease_stages_seen": stages,
        "traffic": traffic_summary(rows), "failed_split": environmental(rows, control_rows),
        "failure": None if run.ok else run.failure_message(),
    }
    if failing:
        first_fail, zero = canary_exposure(rows, version)
        result["detected"] = (not run.ok) and result["final_weight"] in ("0", None) and result["stable_image_unchanged"]
        result["rollback_triggered_line"] = next((line for _, line in run.lines if "ROLLBACK" in line), None) \
            if peer == SPEC else None
        result["first_canary_failure_at_s"] = round(first_fail - run.start, 3) if first_fail else None
        result["zero_canary_traffic_at_s"] = round(zero - run.start, 3) if zero else None
        result["detection_to_rollback_s"] = round(zero - first_fail, 3) if (first_fail and zero) else None
        decision = decision_time(run, peer)
        weight_zero = event_time(events, "weight", "0", after=decision) if decision else None
        result["decision_at_s"] = round(decision - run.start, 3) if decision else None
        result["failure_to_decision_s"] = round(decision - first_fail, 3) if (decision and first_fail) else None
        result["decision_to_weight_zero_s"] = round(weight_zero - decision, 3) if (decision and weight_zero) else None
        result["failed_requests_exposed"] = sum(1 for r in rows if failed(r) and first_fail and r["t"] >= first_fail
                                                and (zero is None or r["t"] < zero))
        result["series"] = per_second(rows, run.start, {version, sandbox.image(stable).rsplit(":", 1)[1]})
        result["series_versions"] = {"canary": version, "stable": sandbox.image(stable).rsplit(":", 1)[1]}
        log("canary failing %-16s %s: rc %s, wall %.1f s, detection-to-rollback %s s, failed %d/%d" % (
            peer, version, run.rc, run.wall, result["detection_to_rollback_s"], result["traffic"]["failed"],
            result["traffic"]["requests"]))
    else:
        waits = configured_waits(settings, peer)
        result["configured_wait_s"] = waits
        result["overhead_s"] = round(run.wall - waits, 3) if run.ok else None
        log("canary healthy %-16s %s: rc %s, wall %.1f s, promoted %s, failed %d/%d" % (
            peer, version, run.rc, run.wall, result["promoted"], result["traffic"]["failed"],
            result["traffic"]["requests"]))
    return result


def run_series(sandbox, settings, work_dir, failing, version_prefix, success):
    suffix = "-err50" if failing else ""
    return rounds(settings, PEERS, "canary", lambda n: "%s.%d%s" % (version_prefix, n, suffix),
                  lambda peer, version: run_once(sandbox, settings, peer, version, work_dir, failing),
                  success, failing=failing)


def run_healthy(sandbox, settings, work_dir):
    reset_canary(sandbox, 0)
    idle = idle_window(sandbox, settings, os.path.join(work_dir, "canary-idle.jsonl"), settings.idle_seconds)
    return {"namespace": NS, "stages": list(STAGES), "idle": idle,
            "runs": run_series(sandbox, settings, work_dir, False, "v3.0", lambda r: r["ok"])}


def run_failing(sandbox, settings, work_dir):
    return {"namespace": NS, "stages": list(STAGES), "error_percent": 50,
            "runs": run_series(sandbox, settings, work_dir, True, "v4.0",
                               lambda r: r.get("detection_to_rollback_s") is not None)}
