# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options for connecting to the Prometheus HTTP API (shared by every module that queries it)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  prometheus_url:
    description:
      - Base URL of the Prometheus server (or of a Prometheus-compatible API such as Thanos Query),
        for example V(http://prometheus.monitoring:9090). A path prefix is kept, so
        V(https://example.com/prometheus) queries V(https://example.com/prometheus/api/v1/query).
      - If not set, the value of the E(PROMETHEUS_URL) environment variable is used.
    type: str
    required: true
  prometheus_bearer_token:
    description:
      - Bearer token sent in the C(Authorization) header.
      - If not set, the value of the E(PROMETHEUS_BEARER_TOKEN) environment variable is used.
      - Mutually exclusive with O(prometheus_username).
    type: str
  prometheus_username:
    description:
      - User name for HTTP basic authentication. Requires O(prometheus_password).
    type: str
  prometheus_password:
    description:
      - Password for HTTP basic authentication. Requires O(prometheus_username).
    type: str
  prometheus_validate_certs:
    description:
      - Verify the server's TLS certificate.
    type: bool
    default: true
  prometheus_ca_path:
    description:
      - PEM file with the CA certificate(s) used to verify the server's TLS certificate.
    type: path
  prometheus_timeout:
    description:
      - Seconds to wait for one HTTP request to Prometheus.
    type: float
    default: 10
  prometheus_headers:
    description:
      - Extra HTTP headers sent with every request, for example a tenant header for Cortex or Mimir.
    type: dict
"""
