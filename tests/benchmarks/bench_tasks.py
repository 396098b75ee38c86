"""Per-task overhead of our Kubernetes modules against the kubernetes.core task doing the same
change (figure 5), in a namespace of their own (bench-tasks: the application with 1 replica per
colour, bootstrapped by our bootstrap role).

    service_selector  <-> kubernetes.core.k8s state=patched (Service spec.selector)
    ingress_canary    <-> kubernetes.core.k8s state=patched (canary-weight annotation)
    deployment_rollout wait=false <-> kubernetes.core.k8s state=patched (container image)
    rollout_lease     <-> kubernetes.core.k8s state=patched (Lease holder, renew time, stage)
    kubernetes.core.k8s_info (read a Deployment): the cost of one read, for reference

For service_selector and ingress_canary also ``kubectl patch`` making the same change: the wall
time of the kubectl process (what a shell script pays per step).

Every task changes something (values alternate), so none is a no-op. Two views:
  - warm: one playbook run per pair with N tasks of each module interleaved (A, B, A, B, ...)
    after one warm-up task of each; a task's time is its start-to-end in the ansible.posix.json
    callback (worker fork, templating, module transfer and run);
  - cold: one-task playbooks, the whole ansible-playbook wall time and the task's own time
    (the first use of a module in a process also builds its AnsiballZ payload).
"""
import json
import os
import time

import yaml

from tests.benchmarks.common import BenchError, CANARY, REPO, ROOT, SERVICE, log, run_playbook, spread

NS = "bench-tasks"
PAIRS = ("service_selector", "ingress_canary", "deployment_rollout", "rollout_lease")


def task(pair, module, index):
    """The task for run ``index`` of ``module`` (ours or kubernetes.core) in ``pair``."""
    even = index % 2 == 0
    if pair == "service_selector":
        colour = "green" if even else "blue"
        if module == "ours":
            return {"name": "ours %d" % index, "llm_research_lab.deploy.service_selector": {
                "name": SERVICE, "namespace": NS, "selector": {"environment": colour}}}
        return {"name": "kcore %d" % index, "kubernetes.core.k8s": {
            "state": "patched", "api_version": "v1", "kind": "Service", "name": SERVICE, "namespace": NS,
            "definition": {"spec": {"selector": {"environment": colour}}}}}
    if pair == "ingress_canary":
        weight = 10 if even else 20
        if module == "ours":
            return {"name": "ours %d" % index, "llm_research_lab.deploy.ingress_canary": {
                "stable_ingress": SERVICE, "name": CANARY, "namespace": NS, "service": CANARY, "port": 8080,
                "weight": weight, "header": "X-Canary"}}
        return {"name": "kcore %d" % index, "kubernetes.core.k8s": {
            "state": "patched", "api_version": "networking.k8s.io/v1", "kind": "Ingress", "name": CANARY,
            "namespace": NS, "definition": {"metadata": {"annotations": {
                "nginx.ingress.kubernetes.io/canary-weight": str(weight)}}}}}
    if pair == "deployment_rollout":
        image = "%s:%s" % (REPO, "v1.2.4" if even else "v1.2.3")
        if module == "ours":
            return {"name": "ours %d" % index, "llm_research_lab.deploy.deployment_rollout": {
                "name": CANARY, "namespace": NS, "images": {"api": image}, "wait": False}}
        return {"name": "kcore %d" % index, "kubernetes.core.k8s": {
            "state": "patched", "api_version": "apps/v1", "kind": "Deployment", "name": CANARY, "namespace": NS,
            "definition": {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": image}]}}}}}}
    if pair == "rollout_lease":
        if module == "ours":
            return {"name": "ours %d" % index, "llm_research_lab.deploy.rollout_lease": {
                "app": "research-lab", "namespace": NS, "holder": "bench", "state": "acquired",
                "data": {"stage": "s%d" % index}}}
        return {"name": "kcore %d" % index, "kubernetes.core.k8s": {
            "state": "patched", "api_version": "coordination.k8s.io/v1", "kind": "Lease",
            "name": "research-lab-rollout", "namespace": NS, "definition": {
                "metadata": {"annotations": {"deploy.llm-research-lab.io/stage": "s%d" % index}},
                "spec": {"holderIdentity": "bench",
                         "renewTime": "{{ now(utc=true, fmt='%Y-%m-%dT%H:%M:%S.%fZ') }}"}}}}
    if pair == "k8s_info":
        return {"name": "kcore %d" % index, "kubernetes.core.k8s_info": {
            "api_version": "apps/v1", "kind": "Deployment", "name": CANARY, "namespace": NS}}
    raise ValueError("unknown pair %r" % pair)


def play(tasks):
    return [{"name": "per-task overhead", "hosts": "localhost", "gather_facts": False,
             "module_defaults": {
                 "group/llm_research_lab.deploy.k8s": {"kubeconfig": "{{ deploy_kubeconfig }}",
                                                       "context": "{{ deploy_context }}"},
                 "group/kubernetes.core.k8s": {"kubeconfig": "{{ deploy_kubeconfig }}",
                                               "context": "{{ deploy_context }}"}},
             "tasks": tasks}]


def write_play(work_dir, name, tasks):
    path = os.path.join(work_dir, name)
    with open(path, "w") as handle:
        yaml.safe_dump(play(tasks), handle, sort_keys=False)
    return path


def task_times(done, prefix):
    """Durations of the tasks named ``prefix`` <n> (warm-up tasks are named "warm-up ...")."""
    if not done.ok:
        raise BenchError("per-task playbook failed: %s" % done.failure_message())
    return [end - start for name, start, end, _ in done.tasks() if name.startswith(prefix + " ")]


def prepare(sandbox, settings, work_dir):
    """The bench-tasks namespace: dependencies copied, the application bootstrapped (1 replica
    per colour), the canary Ingress and the Lease created once (kubernetes.core patches need them)."""
    sandbox.copy_dependencies(NS)
    done = run_playbook(sandbox, os.path.join(ROOT, "playbooks", "bootstrap.yml"), {
        "deploy_namespace": NS, "bootstrap_replicas": 1, "bootstrap_kafka": False, "bootstrap_alert_rules": False,
        "deploy_ingress_host": "tasks.bench.example.com"})
    if not done.ok:
        raise BenchError("bootstrap of %s failed: %s" % (NS, done.failure_message()))
    setup_tasks = [task("ingress_canary", "ours", 1), task("rollout_lease", "ours", 1)]
    done = run_playbook(sandbox, write_play(work_dir, "tasks-prepare.yml", setup_tasks))
    if not done.ok:
        raise BenchError("preparing %s failed: %s" % (NS, done.failure_message()))


def warm(sandbox, settings, work_dir, pair):
    """One playbook: a warm-up task of each module, then N of each, interleaved."""
    modules = ("ours", "kcore") if pair != "k8s_info" else ("kcore",)
    tasks = []
    for module in modules:
        tasks.append(dict(task(pair, module, 0), name="warm-up %s" % module))
    for index in range(1, settings.task_runs + 1):
        for module in modules:
            tasks.append(task(pair, module, index))
    done = run_playbook(sandbox, write_play(work_dir, "tasks-%s.yml" % pair, tasks))
    return {module: spread([t * 1000 for t in task_times(done, module)], 1) for module in modules}


def cold(sandbox, settings, work_dir, pair, runs):
    """One-task playbooks: ansible-playbook wall time and the task's own time, ``runs`` each."""
    modules = ("ours", "kcore") if pair != "k8s_info" else ("kcore",)
    walls = {m: [] for m in modules}
    tasks = {m: [] for m in modules}
    for index in range(runs):
        for module in modules:
            path = write_play(work_dir, "tasks-%s-%s-one.yml" % (pair, module), [task(pair, module, index)])
            done = run_playbook(sandbox, path)
            tasks[module].extend(task_times(done, module))
            walls[module].append(done.wall)
    return {m: {"wall_s": spread(walls[m], 3), "task_ms": spread([t * 1000 for t in tasks[m]], 1)}
            for m in modules}


def kubectl_patch(sandbox, pair, index):
    """The ``kubectl patch`` arguments making the change of run ``index`` of ``pair``."""
    if pair == "service_selector":
        body = {"spec": {"selector": {"environment": "green" if index % 2 == 0 else "blue"}}}
        return ["patch", "service", SERVICE, "-n", NS, "--type", "merge", "-p", json.dumps(body)]
    if pair == "ingress_canary":
        body = {"metadata": {"annotations": {
            "nginx.ingress.kubernetes.io/canary-weight": "10" if index % 2 == 0 else "20"}}}
        return ["patch", "ingress", CANARY, "-n", NS, "--type", "merge", "-p", json.dumps(body)]
    return None


def kubectl_runs(sandbox, pair, runs):
    """Wall time (ms) of ``runs`` kubectl patch processes, after one warm-up."""
    times = []
    for index in range(runs + 1):
        start = time.monotonic()
        sandbox.kubectl(*kubectl_patch(sandbox, pair, index))
        if index:
            times.append((time.monotonic() - start) * 1000)
    return spread(times, 1)


def run(sandbox, settings, work_dir):
    prepare(sandbox, settings, work_dir)
    cold_runs = 1 if settings.quick else 5
    results = {"namespace": NS, "warm_runs": settings.task_runs, "cold_runs": cold_runs, "pairs": {}}
    for pair in PAIRS + ("k8s_info",):
        log("per-task overhead: %s" % pair)
        results["pairs"][pair] = {"warm_ms": warm(sandbox, settings, work_dir, pair),
                                  "cold": cold(sandbox, settings, work_dir, pair, cold_runs)}
        if kubectl_patch(sandbox, pair, 0):
            results["pairs"][pair]["kubectl_ms"] = kubectl_runs(sandbox, pair, settings.task_runs)
    sandbox.kubectl("delete", "namespace", NS, "--wait=false", check=False)
    return results
