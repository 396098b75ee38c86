#!/bin/bash
# scripts/deploy-canary.sh
#
# Benchmark peer: the specification's canary script (spec/deployment-readiness-spec.md,
# section 3.4.2), kept as written - defects included - except where it must change to reach
# the sandbox cluster. Every change is marked "# SANDBOX:" below:
#   1. kubectl context: none in the script; the runner sets KUBECONFIG to the sandbox's kubeconfig.
#   2. Prometheus: http://prometheus:9090 -> $PROMETHEUS_URL (the sandbox Prometheus).
#   3. curl -s -> curl -s -g. As written, curl treats the query's {...} and [5m] as URL globs and
#      exits 3 ("bad range") before sending anything, so under `set -euo pipefail` the script
#      dies at its first check with the canary left at 5% (the suite records this once, see
#      docs/benchmarks.md); -g sends the query as intended.
#   4. SOAK_TIME is ${SOAK_TIME:-300}, scaled like our soaks.
#   5. research-lab-api-stable does not exist in our bootstrap (blue/green Deployments behind
#      one Service): the promotion uses $STABLE_DEPLOYMENT, which the runner sets to the
#      Deployment of the active colour.
#   6. ./scripts/rollback-canary.sh -> the copy next to this file.
# Kept on purpose (see ARCHITECTURE.md, "Known defects"): the 5xx rate (requests/s over 5m)
# is compared with 0.05 as if it were a ratio; empty results become "0"; each stage sleeps
# the whole soak and checks once at the end; the stage 100 is not checked at all.
# The specification's canary manifests give the canary Deployment 1 replica and a canary
# Ingress; the runner sets both up before a run (our bootstrap has 0 replicas, no Ingress).

set -euo pipefail

NAMESPACE="llm-research-lab"
NEW_VERSION="${1:?Version required}"
STAGES=(5 25 50 100)
# SANDBOX: scaled like our soaks (was: SOAK_TIME=300)
SOAK_TIME="${SOAK_TIME:-300}"  # 5 minutes per stage

echo "Starting canary deployment for version $NEW_VERSION"

# Deploy canary with 1 replica
echo "[1/5] Deploying canary version..."
kubectl set image deployment/research-lab-api-canary \
    api=harbor.example.com/llm-research-lab/api:$NEW_VERSION \
    -n $NAMESPACE

kubectl rollout status deployment/research-lab-api-canary -n $NAMESPACE --timeout=5m

# Iterate through canary stages
for STAGE in "${STAGES[@]}"; do
    echo "[Stage $STAGE%] Setting canary traffic weight to $STAGE%"

    kubectl annotate ingress research-lab-api-canary \
        nginx.ingress.kubernetes.io/canary-weight="$STAGE" \
        -n $NAMESPACE --overwrite

    if [[ $STAGE -eq 100 ]]; then
        echo "[Stage $STAGE%] Canary is now receiving all traffic"
        break
    fi

    echo "[Stage $STAGE%] Soaking for $SOAK_TIME seconds..."
    sleep $SOAK_TIME

    # Check metrics during soak period
    echo "[Stage $STAGE%] Validating canary metrics..."

    # SANDBOX: the sandbox Prometheus, and -g (no URL globbing) on the three queries below
    ERROR_RATE=$(curl -s -g "${PROMETHEUS_URL:?PROMETHEUS_URL required}"'/api/v1/query?query=sum(rate(http_requests_total{status=~"5..",track="canary",namespace="'$NAMESPACE'"}[5m]))' \
        | jq -r '.data.result[0].value[1] // "0"')

    LATENCY_P99=$(curl -s -g "$PROMETHEUS_URL"'/api/v1/query?query=histogram_quantile(0.99,rate(http_request_duration_seconds_bucket{track="canary",namespace="'$NAMESPACE'"}[5m]))' \
        | jq -r '.data.result[0].value[1] // "0"')

    BASELINE_LATENCY=$(curl -s -g "$PROMETHEUS_URL"'/api/v1/query?query=histogram_quantile(0.99,rate(http_request_duration_seconds_bucket{track="stable",namespace="'$NAMESPACE'"}[5m]))' \
        | jq -r '.data.result[0].value[1] // "0"')

    # Rollback triggers
    if (( $(echo "$ERROR_RATE > 0.05" | bc -l) )); then
        echo "ROLLBACK TRIGGERED: Error rate ($ERROR_RATE) exceeds 5% threshold"
        "$(dirname "$0")/rollback-canary.sh"  # SANDBOX: path
        exit 1
    fi

    if (( $(echo "$LATENCY_P99 > $BASELINE_LATENCY * 2" | bc -l) )); then
        echo "ROLLBACK TRIGGERED: p99 latency ($LATENCY_P99s) exceeds 2x baseline ($BASELINE_LATENCY s)"
        "$(dirname "$0")/rollback-canary.sh"  # SANDBOX: path
        exit 1
    fi

    echo "[Stage $STAGE%] Metrics validated successfully"
done

# Promote canary to stable
# SANDBOX: research-lab-api-stable -> $STABLE_DEPLOYMENT (the active colour's Deployment)
echo "[5/5] Promoting canary to stable..."
kubectl set image deployment/"${STABLE_DEPLOYMENT:?STABLE_DEPLOYMENT required}" \
    api=harbor.example.com/llm-research-lab/api:$NEW_VERSION \
    -n $NAMESPACE

kubectl rollout status deployment/"${STABLE_DEPLOYMENT:?STABLE_DEPLOYMENT required}" -n $NAMESPACE --timeout=5m

# Remove canary
kubectl annotate ingress research-lab-api-canary nginx.ingress.kubernetes.io/canary-weight- -n $NAMESPACE
kubectl scale deployment/research-lab-api-canary --replicas=0 -n $NAMESPACE

echo "SUCCESS: Canary deployment completed and promoted to stable"
