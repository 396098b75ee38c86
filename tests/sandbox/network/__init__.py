"""Sandbox networking: loopback addresses for pods and Services, Service proxies, ingress."""
