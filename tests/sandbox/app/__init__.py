"""The sandbox's sample application: a stand-in for the research-lab API of the specification.

The sandbox kubelet starts one process per pod (``python -m tests.sandbox.app``, cwd = checkout
root), configured only by environment variables (see ``config.py``). Images of kind "tcp" run
``python -m tests.sandbox.app.tcp_listener`` instead.

Modules: ``config`` (environment), ``auth`` (bearer tokens), ``storage`` (PostgreSQL, Redis,
Kafka checks), ``telemetry`` (Prometheus metrics), ``faults`` (injected errors, latency,
memory growth), ``routes`` (HTTP handlers), ``server`` (listeners and lifecycle).
"""
