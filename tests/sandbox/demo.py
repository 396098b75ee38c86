"""`make demo`: the main job against the sandbox cluster, from a fresh machine.

Starts the sandbox (unless it runs), bootstraps the application, sends 50 requests/s through
the ingress, runs ``playbooks/canary.yml -e version=<version>`` with its progress on the
terminal, stops the traffic and prints what the users saw and where the run report is.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def _run(argv, env):
    print("\n$ " + " ".join(argv), flush=True)
    return subprocess.call(argv, cwd=ROOT, env=env)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox demo", description=__doc__)
    parser.add_argument("--state-dir", default=os.environ.get("SANDBOX_STATE_DIR", os.path.join(ROOT, ".sandbox")))
    parser.add_argument("--version", default=os.environ.get("VERSION", "v1.3.0"))
    parser.add_argument("--rps", type=int, default=50)
    args = parser.parse_args(argv)
    state_dir = os.path.abspath(args.state_dir)
    env = dict(os.environ, SANDBOX_STATE_DIR=state_dir, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build"), ANSIBLE_FORCE_COLOR="1")
    if _run([sys.executable, "-m", "tests.sandbox", "up", "--state-dir", state_dir], env):
        return 1
    if _run([os.path.join(BIN, "ansible-playbook"), "playbooks/bootstrap.yml"], env):
        return 1
    with open(os.path.join(state_dir, "endpoints.json")) as handle:
        endpoints = json.load(handle)
    out = os.path.join(state_dir, "demo-load.jsonl")
    print("\nSending %d requests/s through the ingress (%s, Host api.research-lab.example.com) during the rollout..."
          % (args.rps, endpoints["ingress_url"]), flush=True)
    load = subprocess.Popen(
        [sys.executable, "-m", "tests.sandbox", "load", "--url", endpoints["ingress_url"] + "/api/v1/status",
         "--host", "api.research-lab.example.com", "--rps", str(args.rps), "--duration", "3600", "--out", out],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(2)
    try:
        rc = _run([os.path.join(BIN, "ansible-playbook"), "playbooks/canary.yml", "-e", "version=" + args.version], env)
    finally:
        load.send_signal(signal.SIGTERM)
        summary_text, _ = load.communicate(timeout=60)
    try:
        summary = json.loads(summary_text[summary_text.index("{"):])
        print("\nTraffic during the rollout: %d requests, %d failed, by version %s (p99 %.0f ms)" % (
            summary["requests"], summary["failed"], json.dumps(summary["by_version"]),
            summary["latency_ms"]["p99"] or 0), flush=True)
    except ValueError:
        print("\n(no load summary)")
    reports = sorted((os.path.join(ROOT, "reports", f) for f in os.listdir(os.path.join(ROOT, "reports"))
                      if f.startswith("canary-") and f.endswith(".md")), key=os.path.getmtime) \
        if os.path.isdir(os.path.join(ROOT, "reports")) else []
    if reports:
        print("Run report: %s" % reports[-1])
    print("The sandbox keeps running (KUBECONFIG=%s); stop it with: make demo-down" % os.path.join(state_dir, "kubeconfig"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
