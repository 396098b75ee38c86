"""Blue-green, side by side: our playbooks/blue_green.yml, the kubernetes.core-only playbook and
the specification's deploy-blue-green.sh, each rolling a new version while the load generator
sends 200 requests/s through the ingress.

Per run it measures: switch latency (figure 1), failed requests (figure 3), control overhead =
wall time minus the configured stabilisation wait (figure 4) and the peak RSS of the run's
process tree (figure 7). Runs rotate the order of the peers so that changes of the machine's
load hit them alike.
"""
import os

from tests.benchmarks.common import (KCORE, KCORE_PEER, NS, OURS, ROOT, SERVICE, SPEC, cutover, environmental,
                                     event_time, first_action, idle_window, log, rounds, ours_vars, reset_blue_green,
                                     run_playbook, run_script, traffic_summary, under_load)

PEERS = (OURS, SPEC, KCORE_PEER)


def start_peer(sandbox, settings, peer, version, report_dir):
    if peer == OURS:
        return run_playbook(sandbox, os.path.join(ROOT, "playbooks", "blue_green.yml"),
                            ours_vars(settings, report_dir, version=version))
    if peer == KCORE_PEER:
        return run_playbook(sandbox, os.path.join(KCORE, "blue_green.yml"),
                            {"version": version, "stabilise_seconds": settings.soak,
                             "analysis_window": settings.analysis_window})
    return run_script(sandbox, "deploy-blue-green.sh", [version], STABILISE_SECONDS=settings.soak)


def switch_step(done, peer):
    """When the peer began its switch step: our service_selector task, the kubernetes.core
    playbook's [5/7] task, the script's "[5/7] Switching traffic" line."""
    if peer == OURS:
        # The service_selector task on the stable Service (the role may point a preview Service first).
        return first_action(done, "llm_research_lab.deploy.service_selector", where=lambda name, result: (
            (result.get("invocation") or {}).get("module_args", {}).get("name") == SERVICE))
    if peer == KCORE_PEER:
        return next((start for name, start, _, r in done.tasks() if name.startswith("[5/7]") and not r.get("skipped")),
                    None)
    return done.line_time("[5/7]")


def smoke_target(done, events):
    """For the specification's script: the pod its smoke test targeted (the "Target:" line), as
    the poller saw it just before - name, image tag, terminating, ready."""
    target = next(((t, line.split("//", 1)[1].split(":", 1)[0]) for t, line in done.lines
                   if line.strip().startswith("Target: http://")), None)
    if target is None:
        return None
    t_line, ip = target
    snapshot = None
    for t, key, value in events:
        if key == "pods" and t <= t_line:
            snapshot = value
    pods = [dict(zip(("name", "ip", "version", "terminating", "ready"), p)) for p in (snapshot or ())]
    return next((p for p in pods if p["ip"] == ip), {"ip": ip, "name": None})


def run_once(sandbox, settings, peer, version, work_dir):
    reset_blue_green(sandbox)
    names = [SERVICE + "-blue", SERVICE + "-green"]
    before = {name: sandbox.image(name) for name in names}
    colour_before = sandbox.active_colour()
    load_path = os.path.join(work_dir, "bg-%s-%s.jsonl" % (peer.replace(".", "_"), version))
    done, rows, events, control_rows = under_load(sandbox, settings, load_path,
                                                  lambda: start_peer(sandbox, settings, peer, version, work_dir),
                                                  images=names, pods=(peer == SPEC))
    rolled = sorted({key.split(":", 1)[1] for t, key, value in events
                     if key.startswith("image:") and t >= done.start and value != before[key.split(":", 1)[1]]})
    step = switch_step(done, peer)
    first_new, all_new = cutover(rows, version)
    starts = [t for t in (step, first_new) if t is not None]
    switch_start = min(starts) if starts else None
    api_switch = event_time(events, "colour", after=done.start)
    waits = settings.soak
    result = {
        "peer": peer, "version": version, "ok": done.ok, "rc": done.rc,
        "wall_s": round(done.wall, 3), "configured_wait_s": waits,
        "overhead_s": round(done.wall - waits, 3) if done.ok else None,
        "peak_rss_mib": round(done.peak_rss / 2 ** 20, 1), "peak_processes": done.peak_processes,
        "colour_before": colour_before, "colour_after": sandbox.active_colour(),
        "deployments_rolled": rolled,
        "live_deployment_rolled": (SERVICE + "-" + colour_before) in rolled,
        "new_version_responses": sum(1 for r in rows if r["version"] == version),
        "switch_step_at_s": round(step - done.start, 3) if step else None,
        "selector_change_seen_at_s": round(api_switch - done.start, 3) if api_switch else None,
        "first_new_at_s": round(first_new - done.start, 3) if first_new else None,
        "all_new_at_s": round(all_new - done.start, 3) if all_new else None,
        "switch_latency_s": round(all_new - switch_start, 3) if (done.ok and all_new and switch_start) else None,
        "to_first_new_s": round(first_new - switch_start, 3) if (done.ok and first_new and switch_start) else None,
        "mixed_versions_s": round(all_new - first_new, 3) if (done.ok and all_new and first_new) else None,
        "traffic": traffic_summary(rows), "failed_split": environmental(rows, control_rows),
        "failure": None if done.ok else done.failure_message(),
    }
    if peer == SPEC:
        result["smoke_test_target"] = smoke_target(done, events)
    log("blue-green %-16s %s: rc %s, wall %.1f s, switch latency %s s, failed %d/%d" % (
        peer, version, done.rc, done.wall, result["switch_latency_s"], result["traffic"]["failed"],
        result["traffic"]["requests"]))
    return result


def run(sandbox, settings, work_dir):
    """Rounds of one run per peer (rotating order), then extra attempts for a peer with failed runs."""
    reset_blue_green(sandbox)
    idle = idle_window(sandbox, settings, os.path.join(work_dir, "bg-idle.jsonl"), settings.idle_seconds)
    results = rounds(settings, PEERS, "blue-green", lambda n: "v2.0.%d" % n,
                     lambda peer, version: run_once(sandbox, settings, peer, version, work_dir),
                     lambda r: r["ok"])
    return {"namespace": NS, "idle": idle, "runs": results}
