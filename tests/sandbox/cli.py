"""Command line: ``python -m tests.sandbox up|status|down|serve|load``."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

from .config import SandboxConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_STATE_DIR = os.path.join(ROOT, ".sandbox")


def _pid(state_dir):
    try:
        with open(os.path.join(state_dir, "sandbox.pid")) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _endpoints(state_dir):
    try:
        with open(os.path.join(state_dir, "endpoints.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _tail(path, lines=30):
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def up(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _pid(state_dir)
    if pid is not None:
        endpoints = _endpoints(state_dir)
        print("sandbox already running in %s (pid %d, api %s); not starting another"
              % (state_dir, pid, endpoints.get("api_url", "?")))
        return 0
    os.makedirs(state_dir, exist_ok=True)
    for name in ("ready", "failed", "endpoints.json"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    config = SandboxConfig(state_dir=state_dir, kubelet=args.kubelet, time_factor=args.time_factor)
    if args.kubelet == "simulated":
        config.prometheus = False
        config.dependencies = False
    if args.no_prometheus:
        config.prometheus = False
    config.save()
    started = time.time()
    log = open(os.path.join(state_dir, "sandbox.log"), "ab")
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.sandbox", "serve", "--state-dir", state_dir],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env,
    )
    deadline = started + args.timeout
    while time.time() < deadline:
        if os.path.exists(os.path.join(state_dir, "ready")):
            endpoints = _endpoints(state_dir)
            print("sandbox up in %.1f s: %s (kubeconfig %s)" % (
                time.time() - started, endpoints.get("api_url"), os.path.join(state_dir, "kubeconfig")))
            for key in ("ingress_url", "prometheus_url", "webhook_sink_url"):
                if key in endpoints:
                    print("  %s: %s" % (key, endpoints[key]))
            return 0
        if proc.poll() is not None:
            print("sandbox failed to start (exit %s); last log lines from %s:\n%s"
                  % (proc.returncode, os.path.join(state_dir, "sandbox.log"),
                     _tail(os.path.join(state_dir, "sandbox.log"))), file=sys.stderr)
            return 1
        time.sleep(0.05)
    print("sandbox did not become ready within %s s; stopping it. Log tail:\n%s"
          % (args.timeout, _tail(os.path.join(state_dir, "sandbox.log"))), file=sys.stderr)
    _stop(state_dir, proc.pid)
    return 1


def _sandbox_processes(sandbox_id):
    """Every process started by the sandbox (they carry SANDBOX_ID in their environment)."""
    import psutil

    found = []
    if not sandbox_id:
        return found
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == os.getpid():
                continue
            if proc.environ().get("SANDBOX_ID") == sandbox_id:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _recorded_processes(state_dir):
    """The dependency servers endpoints.json names, while they still run from ``state_dir``.
    redis-server writes its process title over its environment, so SANDBOX_ID cannot find it."""
    import psutil

    found = []
    endpoints = _endpoints(state_dir)
    for part in ("redis", "postgres"):
        pid = (endpoints.get(part) or {}).get("pid")
        if not pid:
            continue
        try:
            proc = psutil.Process(pid)
            cwd = proc.cwd()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if os.path.commonpath([os.path.abspath(cwd), state_dir]) == state_dir:
            found.append(proc)
    return found


def _leftovers(state_dir):
    seen = {proc.pid: proc for proc in _sandbox_processes(_endpoints(state_dir).get("sandbox_id"))}
    for proc in _recorded_processes(state_dir):
        seen.setdefault(proc.pid, proc)
    return list(seen.values())


def _kill(procs):
    import psutil

    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)


def _stop(state_dir, pid, timeout=30.0):
    import psutil

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # Whatever the daemon did not stop (it was killed, or a child ignored SIGTERM) goes now.
    leftovers = _leftovers(state_dir)
    _kill(leftovers)
    return len(leftovers)


def down(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _pid(state_dir)
    if pid is None:
        leftovers = _leftovers(state_dir)
        _kill(leftovers)
        print("no sandbox running in %s%s" % (state_dir, " (killed %d leftover processes)" % len(leftovers) if leftovers else ""))
        return 0
    started = time.time()
    leftovers = _stop(state_dir, pid)
    print("sandbox in %s stopped in %.1f s%s" % (
        state_dir, time.time() - started, " (killed %d leftover processes)" % leftovers if leftovers else ""))
    return 0


def status(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _pid(state_dir)
    endpoints = _endpoints(state_dir)
    report = {"state_dir": state_dir, "running": pid is not None, "pid": pid}
    if pid is not None:
        report.update({k: v for k, v in endpoints.items() if not k.endswith("token")})
        report["processes"] = len(_sandbox_processes(endpoints.get("sandbox_id"))) + 1
        try:
            import psutil
            procs = [psutil.Process(pid)] + _sandbox_processes(endpoints.get("sandbox_id"))
            report["rss_mib"] = round(sum(p.memory_info().rss for p in procs) / 1048576.0, 1)
        except Exception:
            pass
        report["objects"] = _count_objects(endpoints)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        if pid is None:
            print("no sandbox running in %s" % state_dir)
        else:
            print("sandbox running in %s: pid %d, %d processes, %s MiB RSS" % (
                state_dir, pid, report.get("processes", 0), report.get("rss_mib", "?")))
            for key in ("api_url", "ingress_url", "prometheus_url", "webhook_sink_url", "kubeconfig"):
                if key in report:
                    print("  %s: %s" % (key, report[key]))
            if report.get("objects"):
                print("  objects: " + ", ".join("%s=%s" % kv for kv in sorted(report["objects"].items())))
    return 0 if pid is not None else 3


def _count_objects(endpoints):
    import ssl
    import urllib.request

    counts = {}
    context = ssl.create_default_context(cafile=endpoints.get("ca_cert"))
    for path, name in (("/api/v1/pods", "pods"), ("/apis/apps/v1/deployments", "deployments"),
                       ("/api/v1/services", "services"), ("/apis/networking.k8s.io/v1/ingresses", "ingresses")):
        request = urllib.request.Request(endpoints["api_url"] + path,
                                         headers={"Authorization": "Bearer " + endpoints["token"]})
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as response:
                counts[name] = len(json.load(response)["items"])
        except Exception as err:
            counts[name] = "error: %s" % err
    return counts


def ctl(args):
    """Stop or start a part of a running sandbox (postgres, redis, prometheus)."""
    import ssl
    import urllib.error
    import urllib.request

    endpoints = _endpoints(os.path.abspath(args.state_dir))
    if not endpoints:
        print("no sandbox running in %s" % args.state_dir, file=sys.stderr)
        return 3
    request = urllib.request.Request(
        "%s/sandbox/control/%s/%s" % (endpoints["api_url"], args.part, args.action), method="POST",
        headers={"Authorization": "Bearer " + endpoints["token"]})
    context = ssl.create_default_context(cafile=endpoints["ca_cert"])
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as err:
        print("sandbox refused: %s" % err.read().decode(), file=sys.stderr)
        return 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "load":
        from .load import main as load_main
        return load_main(argv[1:])
    if argv and argv[0] == "demo":
        from .demo import main as demo_main
        return demo_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m tests.sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the sandbox in the background and wait until it answers")
    p_up.add_argument("--state-dir", default=os.environ.get("SANDBOX_STATE_DIR", DEFAULT_STATE_DIR))
    p_up.add_argument("--kubelet", choices=["process", "simulated"], default="process")
    p_up.add_argument("--time-factor", type=float, default=0.1)
    p_up.add_argument("--timeout", type=float, default=60.0)
    p_up.add_argument("--no-prometheus", action="store_true")
    for name, help_text in (("down", "stop every process the sandbox started"),
                            ("status", "report what runs"),
                            ("serve", "run the sandbox in the foreground (used by up)")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--state-dir", default=os.environ.get("SANDBOX_STATE_DIR", DEFAULT_STATE_DIR))
        if name == "status":
            p.add_argument("--json", action="store_true")
    sub.add_parser("load", help="generate HTTP load (see: load --help)")
    sub.add_parser("demo", help="bootstrap the application and run the canary playbook under load (make demo)")
    p_ctl = sub.add_parser("ctl", help="stop or start a part of a running sandbox")
    p_ctl.add_argument("--state-dir", default=os.environ.get("SANDBOX_STATE_DIR", DEFAULT_STATE_DIR))
    p_ctl.add_argument("part", choices=["postgres", "redis", "prometheus"])
    p_ctl.add_argument("action", choices=["stop", "start"])
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args)
    if args.command == "down":
        return down(args)
    if args.command == "status":
        return status(args)
    if args.command == "ctl":
        return ctl(args)
    if args.command == "serve":
        from .supervisor import serve
        return serve(os.path.abspath(args.state_dir))
    return 2
