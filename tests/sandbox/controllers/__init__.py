"""The sandbox's controllers (kube-controller-manager's job)."""
