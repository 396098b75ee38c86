"""The benchmark suite: our playbooks against the specification's shell scripts and a
kubernetes.core-only playbook, side by side on one fresh sandbox cluster.

    make bench                                   # = .venv/bin/python -m tests.benchmarks
    .venv/bin/python -m tests.benchmarks --quick # 1 run of each, small N: to try it (~15 min)

Brings a sandbox up in a new state directory under /tmp, bootstraps the application, runs the
benchmarks (bench_bluegreen, bench_canary, bench_tasks, bench_scale), brings the sandbox down,
then writes docs/benchmarks/results.json, docs/benchmarks/canary-rollback.png and
docs/benchmarks.md. The full run (5+ runs of everything) takes about an hour on 2 cores.
If tests/benchmarks/bench_sandbox.py exists, it runs afterwards (full mode) on sandboxes of its
own and writes docs/benchmarks/sandbox.json (skip with --no-sandbox-bench).
"""
import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from tests.benchmarks import bench_bluegreen, bench_canary, bench_report, bench_scale, bench_tasks
from tests.benchmarks.common import (CONTROL_HOST, CONTROL_NS, PYTHON, ROOT, SERVICE, BenchError, Sandbox, Settings,
                                     check_script_tools, create_spec_canary_ingress, log, machine_load, other_work,
                                     run_playbook)

BENCHES = ("bluegreen", "canary", "failing", "tasks", "scale")
DEFAULT_OUT = os.path.join(ROOT, "docs", "benchmarks")
DEFAULT_DOC = os.path.join(ROOT, "docs", "benchmarks.md")


def git(*args):
    done = subprocess.run(["git"] + list(args), cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def machine():
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)}


def bootstrap(sandbox):
    """The application (llm-research-lab, as the sandbox inventory has it), the specification's
    canary Ingress, and the control application (1 replica, its own host) no peer touches."""
    run = run_playbook(sandbox, os.path.join(ROOT, "playbooks", "bootstrap.yml"))
    if not run.ok:
        raise BenchError("bootstrap failed: %s" % run.failure_message())
    sandbox.wait_for(lambda: all(sandbox.rolled_out(SERVICE + "-" + c, 3) for c in ("blue", "green")),
                     what="blue and green ready")
    create_spec_canary_ingress(sandbox)
    sandbox.copy_dependencies(CONTROL_NS)
    control = run_playbook(sandbox, os.path.join(ROOT, "playbooks", "bootstrap.yml"), {
        "deploy_namespace": CONTROL_NS, "bootstrap_replicas": 1, "bootstrap_kafka": False,
        "bootstrap_alert_rules": False, "deploy_ingress_host": CONTROL_HOST})
    if not control.ok:
        raise BenchError("bootstrap of the control application failed: %s" % control.failure_message())
    return round(run.wall, 1)


def spec_curl_as_written(sandbox):
    """The canary script's first query exactly as written (only the host changed): curl reads
    {...} and [5m] as URL globs and exits 3, which ends the script under `set -euo pipefail`."""
    url = sandbox.endpoints["prometheus_url"]
    command = ("set -euo pipefail; NAMESPACE=llm-research-lab; ERROR_RATE=$(curl -s '" + url +
               "/api/v1/query?query=sum(rate(http_requests_total{status=~\"5..\",track=\"canary\",namespace=\"'"
               "$NAMESPACE'\"}[5m]))' | jq -r '.data.result[0].value[1] // \"0\"'); echo \"ERROR_RATE=$ERROR_RATE\"")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    return {"command": command.replace(url, "$PROMETHEUS_URL"), "exit_code": done.returncode,
            "stdout": done.stdout.strip(), "stderr": done.stderr.strip()}


def run_bench(name, sandbox, settings, work_dir):
    if name == "bluegreen":
        return bench_bluegreen.run(sandbox, settings, work_dir)
    if name == "canary":
        return bench_canary.run_healthy(sandbox, settings, work_dir)
    if name == "failing":
        return bench_canary.run_failing(sandbox, settings, work_dir)
    if name == "tasks":
        return bench_tasks.run(sandbox, settings, work_dir)
    if name == "scale":
        return bench_scale.run(sandbox, settings, work_dir)
    raise ValueError(name)


def sandbox_bench(out_dir):
    """The sandbox's own benchmark (API latency, rollout time, footprint), on sandboxes of its own."""
    path = os.path.join(ROOT, "tests", "benchmarks", "bench_sandbox.py")
    if not os.path.exists(path):
        return {"ran": False, "reason": "tests/benchmarks/bench_sandbox.py does not exist"}
    out = os.path.join(out_dir, "sandbox.json")
    log("running the sandbox benchmark (tests.benchmarks.bench_sandbox)")
    started = time.time()
    try:
        done = subprocess.run([PYTHON, "-m", "tests.benchmarks.bench_sandbox", "--out", out], cwd=ROOT,
                              capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"ran": True, "ok": False, "reason": "timed out after 1800 s"}
    return {"ran": True, "ok": done.returncode == 0, "rc": done.returncode, "out": os.path.relpath(out, ROOT),
            "seconds": round(time.time() - started, 1), "table": done.stdout[-3000:],
            "stderr": done.stderr[-2000:] if done.returncode else ""}


def save(report, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as handle:
        json.dump(report, handle, indent=1, default=str)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 run of each, small N: to try the suite")
    parser.add_argument("--only", default=",".join(BENCHES),
                        help="comma-separated subset of %s (default: all)" % ",".join(BENCHES))
    parser.add_argument("--out-dir", default=DEFAULT_OUT, help="JSON results and chart (default docs/benchmarks)")
    parser.add_argument("--doc", default=DEFAULT_DOC, help="the Markdown report (default docs/benchmarks.md)")
    parser.add_argument("--keep-state", action="store_true", help="keep the sandbox state dir (load logs) after")
    parser.add_argument("--no-sandbox-bench", action="store_true", help="do not run tests.benchmarks.bench_sandbox")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in BENCHES]
    if unknown:
        parser.error("--only: unknown benchmark(s) %s; choose from %s" % (", ".join(unknown), ", ".join(BENCHES)))
    args.only = only
    return args


def _terminate(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    settings = Settings(quick=args.quick)
    command = "python -m tests.benchmarks" + (" --quick" if args.quick else "")
    if args.only != list(BENCHES):
        command += " --only " + ",".join(args.only)
    report = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": command,
              "make_target": "make bench", "settings": settings.as_dict(), "machine": machine(),
              "git": {"commit": git("rev-parse", "HEAD"), "describe": git("describe", "--always", "--dirty"),
                      # the suite's own outputs (docs/benchmarks*) do not count
                      "uncommitted_files": len([line for line in (git("status", "--porcelain") or "").splitlines()
                                                if not line[3:].startswith("docs/benchmarks")])},
              "load_before": machine_load(), "other_work_before": other_work(), "benches": {}, "errors": {}}
    if any(name in args.only for name in ("bluegreen", "canary", "failing")):
        check_script_tools()
    state_dir = tempfile.mkdtemp(prefix="bench-suite-", dir="/tmp")
    work_dir = os.path.join(state_dir, "work")
    os.makedirs(work_dir)
    sandbox = Sandbox(os.path.join(state_dir, "sandbox"))
    log("sandbox up in %s" % sandbox.state_dir)
    started = time.time()
    try:
        sandbox.up()
        report["bootstrap_s"] = bootstrap(sandbox)
        report["spec_curl_as_written"] = spec_curl_as_written(sandbox)
        for name in args.only:
            log("benchmark %s" % name)
            bench_started = time.time()
            try:
                report["benches"][name] = run_bench(name, sandbox, settings, work_dir)
            except Exception as exc:  # one benchmark's failure must not lose the others' results
                log("benchmark %s failed: %s" % (name, exc))
                report["errors"][name] = "%s\n%s" % (exc, traceback.format_exc()[-3000:])
            report.setdefault("bench_seconds", {})[name] = round(time.time() - bench_started, 1)
            save(report, args.out_dir)
    except KeyboardInterrupt:
        report["errors"]["interrupted"] = "the suite was interrupted; results are partial"
        log("interrupted")
    finally:
        log("sandbox down")
        sandbox.down()
        if not args.keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)
    report["suite_seconds"] = round(time.time() - started, 1)
    report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["load_after"] = machine_load()
    report["other_work_after"] = other_work()
    if not args.quick and not args.no_sandbox_bench and "interrupted" not in report["errors"]:
        report["sandbox_bench"] = sandbox_bench(args.out_dir)
    save(report, args.out_dir)
    bench_report.write(report, args.out_dir, args.doc)
    log("written %s and %s" % (os.path.relpath(args.doc, ROOT), os.path.relpath(args.out_dir, ROOT)))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
