"""Scale (figure 6): 1, 5 and 20 applications rolled by ONE run of our playbooks/blue_green.yml
(one inventory host per application, forks = number of applications), wall time against one
application, and the peak RSS of that run (figure 7).

Each application is the bootstrap role's application in a namespace of its own (bench-app-NN,
1 replica per colour, no stand-in Kafka, no alert rules, its own ingress host). These runs use
a second sandbox with the simulated kubelet (pods are records that turn Ready at once), brought
up for them and down after: with real pod processes, 20 applications are 40 Python processes
plus 20 starting ones on 2 cores, and in a trial run the machine (load average 13) starved
them until 6 of 20 new pods were killed by their liveness probes - the figure then measured
the machine, not the controller. With simulated pods there is no HTTP to smoke-test and no
traffic to analyse, so blue_green_smoke_tests=false and blue_green_min_requests=0; the
analysis still queries Prometheus (the main sandbox's, which has no series for these
namespaces) every interval for the whole window, and the lease, rollout, switch, report and
notification steps are the same as in the blue-green figures.
"""
import json
import os
import time

import yaml

from tests.benchmarks.common import (BenchError, INVENTORY, ROOT, SERVICE, Sandbox, log, ours_vars, run_playbook,
                                     spread)

PREFIX = "bench-app-"


def host(index):
    return "app%02d" % index


def namespace(index):
    return "%s%02d" % (PREFIX, index)


def write_inventory(work_dir, count):
    hosts = {host(i): {"deploy_namespace": namespace(i), "deploy_ingress_host": "%s.bench.example.com" % host(i)}
             for i in range(1, count + 1)}
    path = os.path.join(work_dir, "scale-inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump({"all": {"children": {"bench_apps": {"hosts": hosts}}}}, handle)
    return path


def all_rolled_out(sandbox, count):
    return all(sandbox.rolled_out(SERVICE + "-" + colour, 1, namespace(i))
               for i in range(1, count + 1) for colour in ("blue", "green"))


def prepare(sandbox, settings, work_dir, count):
    """The first application through the bootstrap playbook, the others as copies of its objects
    (namespace, Deployments, Services, Secret, Ingresses; their own ingress hosts) - the same
    objects, without 19 more bootstrap runs."""
    inventory = write_inventory(work_dir, count)
    log("scale: bootstrapping %d applications" % count)
    started = time.time()
    done = run_playbook(sandbox, os.path.join(ROOT, "playbooks", "bootstrap.yml"), {
        "deploy_hosts": "bench_apps", "bootstrap_replicas": 1, "bootstrap_kafka": False,
        "bootstrap_alert_rules": False}, inventory=[INVENTORY, inventory], args=["--limit", host(1)])
    if not done.ok:
        raise BenchError("bootstrap of %s failed: %s" % (namespace(1), done.failure_message()))
    source = sandbox.kubectl_json("get", "deployments,services,secrets,ingresses", "-n", namespace(1),
                                  "-l", "app=research-lab")["items"]
    for index in range(2, count + 1):
        sandbox.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(index)}}]
                      + [copy_object(item, index) for item in source])
    sandbox.wait_for(lambda: all_rolled_out(sandbox, count), timeout=600, what="every application rolled out")
    return inventory, round(time.time() - started, 1)


def copy_object(item, index):
    """``item`` of the first application, for application ``index``."""
    meta = item["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith(("deployment.kubernetes.io/", "kubectl.kubernetes.io/"))}
    copy = {"apiVersion": item["apiVersion"], "kind": item["kind"],
            "metadata": {"name": meta["name"], "namespace": namespace(index), "labels": meta.get("labels", {}),
                         "annotations": annotations}}
    for key in ("spec", "data", "type"):
        if key in item:
            copy[key] = json.loads(json.dumps(item[key]))
    if item["kind"] == "Service":
        for key in ("clusterIP", "clusterIPs"):
            copy["spec"].pop(key, None)
    if item["kind"] == "Ingress":
        for rule in copy["spec"].get("rules", []):
            rule["host"] = rule.get("host", "").replace(host(1), host(index))
    return copy


def roll(sandbox, settings, work_dir, inventory, size, version, prometheus_url):
    sandbox.wait_for(lambda: all_rolled_out(sandbox, size), timeout=600, what="applications ready")
    hosts = [host(i) for i in range(1, size + 1)]
    done = run_playbook(sandbox, os.path.join(ROOT, "playbooks", "blue_green.yml"),
                       ours_vars(settings, work_dir, version=version, deploy_hosts="bench_apps",
                                 blue_green_min_requests=0, blue_green_smoke_tests=False,
                                 deploy_prometheus_url=prometheus_url),
                       inventory=[INVENTORY, inventory], args=["--limit", ",".join(hosts), "-f", str(size)],
                       timeout=1800)
    live = [sandbox.image(SERVICE + "-" + sandbox.active_colour(namespace(i)), namespace(i)).endswith(":" + version)
            for i in range(1, size + 1)]
    result = {"size": size, "version": version, "ok": done.ok and all(live), "rc": done.rc,
              "live_apps": sum(live), "wall_s": round(done.wall, 3), "configured_wait_s": settings.soak,
              "peak_rss_mib": round(done.peak_rss / 2 ** 20, 1), "peak_processes": done.peak_processes,
              "failure": None if done.ok else done.failure_message()}
    log("scale %2d apps %s: rc %s, wall %.1f s, %d live, peak RSS %.0f MiB" % (
        size, version, done.rc, done.wall, sum(live), result["peak_rss_mib"]))
    return result


def run(main_sandbox, settings, work_dir):
    sandbox = Sandbox(os.path.join(os.path.dirname(work_dir), "sandbox-simulated"))
    log("scale: second sandbox (simulated kubelet) up in %s" % sandbox.state_dir)
    sandbox.up(kubelet="simulated")
    try:
        return run_on(sandbox, settings, work_dir, main_sandbox.endpoints["prometheus_url"])
    finally:
        sandbox.down()


def run_on(sandbox, settings, work_dir, prometheus_url):
    largest = max(settings.scale_sizes)
    inventory, bootstrap_s = prepare(sandbox, settings, work_dir, largest)
    results = []
    for round_index in range(settings.scale_runs):
        sizes = list(settings.scale_sizes)
        sizes = sizes[round_index % len(sizes):] + sizes[:round_index % len(sizes)]
        for size in sizes:
            if size == largest and round_index >= settings.scale_runs_largest:
                continue
            results.append(roll(sandbox, settings, work_dir, inventory, size,
                                "v5.%d.%d" % (size, round_index + 1), prometheus_url))
    by_size = {}
    for size in settings.scale_sizes:
        walls = [r["wall_s"] for r in results if r["size"] == size and r["ok"]]
        by_size[str(size)] = {"wall_s": spread(walls), "peak_rss_mib": spread(
            [r["peak_rss_mib"] for r in results if r["size"] == size and r["ok"]], 1)}
    return {"kubelet": "simulated", "bootstrap_s": bootstrap_s, "runs": results, "by_size": by_size}
