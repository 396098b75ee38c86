#!/bin/bash
# scripts/smoke-tests.sh
#
# Benchmark peer: the specification's smoke tests (spec/deployment-readiness-spec.md, section
# 3.5.5), called by deploy-blue-green.sh. Kept as written - defects included, such as
# ((FAILURES++)) ending the script under `set -e` at the first failure - except:
#   1. Login: the sandbox application only accepts the login the bootstrap stored in its
#      Secret, so the hard-coded {"username":"test","password":"test"} takes
#      $SMOKE_USERNAME / $SMOKE_PASSWORD (default test/test).
#   2. Integration health checks: the sandbox application answers 401 without a token there,
#      so they send the login token (Authorization: Bearer) like the other API calls.
# Both are marked "# SANDBOX:" below.

set -euo pipefail

BASE_URL="${1:-http://localhost:8080}"
TIMEOUT=10
FAILURES=0

echo "========================================="
echo "  LLM Research Lab - Smoke Tests"
echo "  Target: $BASE_URL"
echo "========================================="

# Test 1: Health endpoints
echo -e "\n[Test 1/6] Health Endpoints"
for endpoint in live ready startup; do
    echo -n "  Testing /health/$endpoint... "
    STATUS=$(curl -s -o /dev/null -w "%{http_code}" --max-time $TIMEOUT "$BASE_URL/health/$endpoint")
    if [[ "$STATUS" == "200" ]]; then
        echo "✓ PASS ($STATUS)"
    else
        echo "✗ FAIL ($STATUS)"
        ((FAILURES++))
    fi
done

# Test 2: API authentication
echo -e "\n[Test 2/6] API Authentication"
echo -n "  Testing JWT authentication... "
# SANDBOX: the sandbox login (was -d '{"username":"test","password":"test"}')
TOKEN=$(curl -s -X POST "$BASE_URL/api/v1/auth/login" \
    -H "Content-Type: application/json" \
    -d "{\"username\":\"${SMOKE_USERNAME:-test}\",\"password\":\"${SMOKE_PASSWORD:-test}\"}" \
    | jq -r '.token // empty')

if [[ -n "$TOKEN" ]]; then
    echo "✓ PASS"
else
    echo "✗ FAIL (No token received)"
    ((FAILURES++))
fi

# Test 3: Experiment workflow
echo -e "\n[Test 3/6] Experiment Creation"
echo -n "  Creating test experiment... "
EXPERIMENT=$(curl -s -X POST "$BASE_URL/api/v1/experiments" \
    -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" \
    -d '{
        "name": "smoke-test-exp",
        "model_id": "test-model-v1",
        "dataset_id": "test-dataset-v1"
    }')

EXPERIMENT_ID=$(echo "$EXPERIMENT" | jq -r '.id // empty')
if [[ -n "$EXPERIMENT_ID" ]]; then
    echo "✓ PASS (ID: $EXPERIMENT_ID)"
else
    echo "✗ FAIL"
    ((FAILURES++))
fi

# Test 4: Metrics ingestion
echo -e "\n[Test 4/6] Metrics Ingestion"
echo -n "  Posting metrics... "
METRIC_RESPONSE=$(curl -s -o /dev/null -w "%{http_code}" -X POST "$BASE_URL/api/v1/metrics" \
    -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" \
    -d "{
        \"experiment_id\": \"$EXPERIMENT_ID\",
        \"step\": 1,
        \"metrics\": {\"loss\": 0.5, \"accuracy\": 0.85}
    }")

if [[ "$METRIC_RESPONSE" == "202" ]] || [[ "$METRIC_RESPONSE" == "200" ]]; then
    echo "✓ PASS ($METRIC_RESPONSE)"
else
    echo "✗ FAIL ($METRIC_RESPONSE)"
    ((FAILURES++))
fi

# Test 5: Integration endpoints
echo -e "\n[Test 5/6] External Integrations"
for integration in registry test-bench analytics-hub; do
    echo -n "  Testing LLM-$integration integration... "
    # SANDBOX: the sandbox application answers 401 here without the login token
    STATUS=$(curl -s -o /dev/null -w "%{http_code}" --max-time $TIMEOUT \
        -H "Authorization: Bearer $TOKEN" \
        "$BASE_URL/api/v1/integrations/$integration/health")
    if [[ "$STATUS" == "200" ]]; then
        echo "✓ PASS"
    else
        echo "✗ FAIL ($STATUS)"
        ((FAILURES++))
    fi
done

# Test 6: Performance baselines
echo -e "\n[Test 6/6] Performance Baselines"
echo -n "  Measuring API latency... "
LATENCY=$(curl -s -o /dev/null -w "%{time_total}" "$BASE_URL/health/ready")
LATENCY_MS=$(echo "$LATENCY * 1000" | bc)

if (( $(echo "$LATENCY < 0.1" | bc -l) )); then
    echo "✓ PASS (${LATENCY_MS}ms < 100ms)"
else
    echo "⚠ WARN (${LATENCY_MS}ms >= 100ms)"
fi

# Final results
echo -e "\n========================================="
if [[ $FAILURES -eq 0 ]]; then
    echo "  ✓ ALL SMOKE TESTS PASSED"
    echo "========================================="
    exit 0
else
    echo "  ✗ SMOKE TESTS FAILED: $FAILURES failures"
    echo "========================================="
    exit 1
fi
