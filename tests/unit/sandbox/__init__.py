"""Unit tests for the sandbox cluster's pure API-server pieces.

The manifests below are the specification's own (deployment-readiness-spec.md, section 3.4),
copied verbatim so the tests exercise what users will really send.
"""
import yaml

SERVICE_STABLE = """
apiVersion: v1
kind: Service
metadata:
  name: research-lab-api
  namespace: llm-research-lab
  labels:
    app: research-lab
    tier: api
spec:
  selector:
    app: research-lab
    tier: api
    version: stable  # Points to active environment
  ports:
    - name: http
      port: 8080
      targetPort: 8080
      protocol: TCP
    - name: metrics
      port: 9090
      targetPort: 9090
      protocol: TCP
  type: ClusterIP
"""

DEPLOYMENT_BLUE = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: research-lab-api-blue
  namespace: llm-research-lab
  labels:
    app: research-lab
    tier: api
    environment: blue
spec:
  replicas: 3
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app: research-lab
      tier: api
      environment: blue
  template:
    metadata:
      labels:
        app: research-lab
        tier: api
        environment: blue
        version: stable  # Will be swapped to 'inactive' during deployment
    spec:
      containers:
      - name: api
        image: harbor.example.com/llm-research-lab/api:v1.2.3
        ports:
        - containerPort: 8080
          name: http
        - containerPort: 9090
          name: metrics
        env:
        - name: RUST_LOG
          value: "info,llm_research_lab=debug"
        - name: DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: postgres-credentials
              key: url
        - name: KAFKA_BROKERS
          value: "kafka-0.kafka-headless:9092,kafka-1.kafka-headless:9092"
        - name: REDIS_URL
          value: "redis://redis-master:6379"
        resources:
          requests:
            memory: "512Mi"
            cpu: "500m"
          limits:
            memory: "1Gi"
            cpu: "1000m"
        livenessProbe:
          httpGet:
            path: /health/live
            port: 8080
          initialDelaySeconds: 30
          periodSeconds: 10
          timeoutSeconds: 5
          failureThreshold: 3
        readinessProbe:
          httpGet:
            path: /health/ready
            port: 8080
          initialDelaySeconds: 10
          periodSeconds: 5
          timeoutSeconds: 3
          failureThreshold: 2
        startupProbe:
          httpGet:
            path: /health/startup
            port: 8080
          initialDelaySeconds: 0
          periodSeconds: 5
          timeoutSeconds: 3
          failureThreshold: 30
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              labelSelector:
                matchExpressions:
                - key: app
                  operator: In
                  values:
                  - research-lab
              topologyKey: kubernetes.io/hostname
"""

INGRESS_CANARY = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: research-lab-api-canary
  namespace: llm-research-lab
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "5"  # Start at 5%
    nginx.ingress.kubernetes.io/canary-by-header: "X-Canary"
    nginx.ingress.kubernetes.io/canary-by-header-value: "always"
spec:
  ingressClassName: nginx
  rules:
  - host: api.research-lab.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: research-lab-api-canary
            port:
              number: 8080
  tls:
  - hosts:
    - api.research-lab.example.com
    secretName: api-tls-cert
"""


def service_stable():
    """The stable Service of the blue-green strategy (a fresh copy)."""
    return yaml.safe_load(SERVICE_STABLE)


def deployment_blue():
    """The blue Deployment (a fresh copy)."""
    return yaml.safe_load(DEPLOYMENT_BLUE)


def ingress_canary():
    """The canary Ingress with the ingress-nginx canary annotations (a fresh copy)."""
    return yaml.safe_load(INGRESS_CANARY)
