#!/bin/bash
# scripts/rollback-canary.sh
#
# Benchmark peer: the specification's canary rollback script (spec/deployment-readiness-spec.md,
# section 3.4.3), kept as written - defects included - except where it must change to reach
# the sandbox cluster. Every change is marked "# SANDBOX:" below:
#   1. kubectl context: none in the script; the runner sets KUBECONFIG to the sandbox's kubeconfig.
#   2. PagerDuty: https://pagerduty.example.com/api/v1/incidents -> $PAGERDUTY_URL (the sandbox
#      webhook sink, which records the request).
# Kept on purpose: the placeholder token in the script ("Token token=YOUR_TOKEN"), curl
# without --fail (an HTTP error from PagerDuty goes unnoticed).

set -euo pipefail

NAMESPACE="llm-research-lab"

echo "ROLLBACK INITIATED: Reverting canary deployment"

# Set canary weight to 0%
kubectl annotate ingress research-lab-api-canary \
    nginx.ingress.kubernetes.io/canary-weight="0" \
    -n $NAMESPACE --overwrite

# Scale down canary
kubectl scale deployment/research-lab-api-canary --replicas=0 -n $NAMESPACE

# Trigger alert
# SANDBOX: the sandbox webhook sink (was https://pagerduty.example.com/api/v1/incidents)
curl -X POST "${PAGERDUTY_URL:?PAGERDUTY_URL required}" \
    -H "Authorization: Token token=YOUR_TOKEN" \
    -H "Content-Type: application/json" \
    -d '{
      "incident": {
        "type": "incident",
        "title": "Canary deployment auto-rollback triggered",
        "service": {"id": "PXXXXXX", "type": "service_reference"},
        "urgency": "high",
        "body": {
          "type": "incident_body",
          "details": "Automated rollback triggered due to threshold violation"
        }
      }
    }'

echo "Rollback completed. Canary traffic set to 0%, replicas scaled to 0"
