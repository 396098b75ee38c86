#!/bin/bash
# scripts/deploy-blue-green.sh
#
# Benchmark peer: the specification's blue-green script (spec/deployment-readiness-spec.md,
# section 3.4.1), kept as written - defects included - except where it must change to reach
# the sandbox cluster. Every change is marked "# SANDBOX:" below:
#   1. kubectl context: none in the script; the runner sets KUBECONFIG to the sandbox's kubeconfig.
#   2. Prometheus: the original runs `kubectl exec -n monitoring prometheus-0 -- wget ...` against
#      http://localhost:9090; the sandbox has no prometheus-0 pod, so the same query goes to
#      $PROMETHEUS_URL with `curl -s -g` (-g: no URL globbing, so the braces and [5m] reach
#      Prometheus as wget would send them).
#   3. Smoke-test script path: ./scripts/smoke-tests.sh -> the copy next to this file.
#   4. The 30 s stabilisation sleep is $STABILISE_SECONDS (default 30), scaled like our soaks.
# Kept on purpose (see ARCHITECTURE.md, "Known defects"): the active colour is read from
# selector.version but environment is patched (from the bootstrap state - selector
# environment: blue, no version key - it concludes green is active and rolls the LIVE blue
# Deployment); the 5xx rate (requests/s over 5m) is compared with 0.05 as if it were a ratio;
# an empty result becomes "0"; the check runs once, after the sleep.
# Namespace: llm-research-lab, as in the specification (the sandbox application lives there).

set -euo pipefail

NAMESPACE="llm-research-lab"
NEW_VERSION="${1:?Version required (e.g., v1.2.3)}"
CURRENT_ENV=$(kubectl get service research-lab-api -n $NAMESPACE -o jsonpath='{.spec.selector.version}')

# Determine which environment is currently active
if [[ "$CURRENT_ENV" == "blue" ]]; then
    ACTIVE="blue"
    INACTIVE="green"
else
    ACTIVE="green"
    INACTIVE="blue"
fi

echo "[1/7] Current active environment: $ACTIVE"
echo "[1/7] Deploying to inactive environment: $INACTIVE"

# Update inactive deployment with new version
echo "[2/7] Updating $INACTIVE deployment to $NEW_VERSION"
kubectl set image deployment/research-lab-api-$INACTIVE \
    api=harbor.example.com/llm-research-lab/api:$NEW_VERSION \
    -n $NAMESPACE

# Wait for rollout to complete
echo "[3/7] Waiting for $INACTIVE deployment rollout..."
kubectl rollout status deployment/research-lab-api-$INACTIVE -n $NAMESPACE --timeout=5m

# Run smoke tests against inactive environment
echo "[4/7] Running smoke tests against $INACTIVE environment..."
INACTIVE_POD=$(kubectl get pods -n $NAMESPACE -l environment=$INACTIVE -o jsonpath='{.items[0].metadata.name}')
INACTIVE_IP=$(kubectl get pod $INACTIVE_POD -n $NAMESPACE -o jsonpath='{.status.podIP}')

# SANDBOX: path of the smoke-test script (was ./scripts/smoke-tests.sh)
if ! "$(dirname "$0")/smoke-tests.sh" "http://$INACTIVE_IP:8080"; then
    echo "ERROR: Smoke tests failed on $INACTIVE environment"
    echo "Rolling back $INACTIVE deployment..."
    kubectl rollout undo deployment/research-lab-api-$INACTIVE -n $NAMESPACE
    exit 1
fi

# Switch traffic to inactive environment
echo "[5/7] Switching traffic from $ACTIVE to $INACTIVE..."
kubectl patch service research-lab-api -n $NAMESPACE -p "{\"spec\":{\"selector\":{\"environment\":\"$INACTIVE\"}}}"

# Wait for traffic to stabilize (30 seconds)
echo "[6/7] Waiting for traffic to stabilize..."
# SANDBOX: the stabilisation time is scaled like our soaks (was: sleep 30)
sleep "${STABILISE_SECONDS:-30}"

# Monitor error rates
echo "[7/7] Monitoring error rates..."
# SANDBOX: the same query to the sandbox Prometheus with curl (was: kubectl exec -n monitoring
# prometheus-0 -- wget -q -O- 'http://localhost:9090/api/v1/query?query=...')
ERROR_RATE=$(curl -s -g "${PROMETHEUS_URL:?PROMETHEUS_URL required}"'/api/v1/query?query=sum(rate(http_requests_total{status=~"5..",namespace="'$NAMESPACE'"}[5m]))' \
    | jq -r '.data.result[0].value[1] // "0"')

if (( $(echo "$ERROR_RATE > 0.05" | bc -l) )); then
    echo "ERROR: Error rate ($ERROR_RATE) exceeds 5% threshold"
    echo "Rolling back to $ACTIVE environment..."
    kubectl patch service research-lab-api -n $NAMESPACE -p "{\"spec\":{\"selector\":{\"environment\":\"$ACTIVE\"}}}"
    exit 1
fi

echo "SUCCESS: Blue-green deployment to $INACTIVE completed successfully"
echo "Active environment is now: $INACTIVE"
echo "Previous environment ($ACTIVE) is available for rollback"
