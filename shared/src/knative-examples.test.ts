import { describe, expect, it } from 'vitest';
import { decodeResource, parseDocuments, writableKind } from './index.ts';

// Manifests as the Knative documentation gives them; each must be accepted as it is.
const examples: Record<string, string> = {
  'a plain service (helloworld-go)': `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: helloworld-go
  namespace: default
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          env:
            - name: TARGET
              value: "Go Sample v1"
`,
  'containerConcurrency with min/max scale annotations (autoscale-go)': `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: autoscale-go
  namespace: default
spec:
  template:
    metadata:
      annotations:
        # Target 10 in-flight-requests per pod.
        autoscaling.knative.dev/target: "10"
        autoscaling.knative.dev/min-scale: "1"
        autoscaling.knative.dev/max-scale: "3"
    spec:
      containerConcurrency: 50
      containers:
      - image: ghcr.io/knative/autoscale-go:latest
`,
  'blue/green tags with a 50/50 split': `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: example-service
  namespace: default
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
  traffic:
  - tag: current
    revisionName: example-service-00001
    percent: 50
  - tag: candidate
    revisionName: example-service-00002
    percent: 50
  - tag: latest
    latestRevision: true
    percent: 0
`,
  'a bring-your-own revision name with a traffic split': `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      name: hello-world
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          ports:
            - containerPort: 8080
          env:
            - name: TARGET
              value: "World"
  traffic:
  - latestRevision: true
    percent: 50
  - revisionName: hello-00001
    percent: 50
    tag: old
`,
  'probes, resources and a timeout': `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: probed
spec:
  template:
    spec:
      timeoutSeconds: 120
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          readinessProbe:
            httpGet:
              path: /healthz
            initialDelaySeconds: 3
          livenessProbe:
            tcpSocket:
              port: 8080
          resources:
            requests:
              cpu: 100m
              memory: 640M
            limits:
              cpu: 1
`,
  'a cluster-local service': `
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: internal
  labels:
    networking.knative.dev/visibility: cluster-local
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
`,
};

describe("the Knative documentation's manifests", () => {
  it.each(Object.entries(examples))('accepts %s unchanged', (_name, yaml) => {
    const parsed = parseDocuments(yaml, 'yaml');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const [doc] = parsed.value;
    expect(writableKind(doc)).toBe('Service');
    const decoded = decodeResource('Service', doc);
    if (!decoded.ok) throw new Error(decoded.status.message);
    // Defaulting only adds: everything the user wrote is there as written.
    expect(decoded.value).toMatchObject(doc as object);
  });

  it('reads them all from one multi-document YAML stream', () => {
    const stream = Object.values(examples).join('\n---\n');
    const parsed = parseDocuments(stream, 'yaml');
    expect(parsed.ok && parsed.value.length).toBe(Object.keys(examples).length);
  });
});
