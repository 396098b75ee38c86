"""The sandbox's kubelets: ``simulated`` (pods are records) and ``process`` (pods are processes)."""
