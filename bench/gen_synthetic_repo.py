#!/usr/bin/env python3
"""Generate a synthetic tidegate GitOps repository for benchmarks.

    bench/gen_synthetic_repo.py OUT_DIR [--apps N] [--seed S]

Writes a repository in the format of docs/repo-format.md:

    OUT_DIR/apps-of-apps/root.yaml                      environments dev, qa, prod; waves core, platform, business
    OUT_DIR/apps-of-apps/<wave>/<app>/app.yaml          N apps: 10% core, 20% platform, 70% business
    OUT_DIR/apps-of-apps/<wave>/<app>/base/*.yaml       ServiceAccount, ConfigMap, Deployment, Service, HPA,
                                                        PDB, NetworkPolicy (+ Ingress or Role/RoleBinding for some)
    OUT_DIR/overlays/<env>/<app>/kustomization.yaml     namespace, images (tags differ per env), labels pairs,
                                                        commonAnnotations (some), 2-3 JSON 6902 patches

Only kustomize features tidegate renders are used: resources, namespace, patches (JSON 6902 op
lists, never strategic merge), images, labels, commonLabels, commonAnnotations. Every app has
its own namespace (the app name). The output is deterministic for a given (N, seed).

Python 3 standard library only.
"""

import argparse
import os
import random
import shutil
import sys

ENVS = ["dev", "qa", "prod"]
WAVES = ["core", "platform", "business"]

# Per-environment sizing: (HPA min, HPA max, cpu request, memory request, cpu limit, memory limit)
ENV_SIZES = {
    "dev": [(1, 2, "50m", "64Mi", "250m", "128Mi"), (1, 3, "100m", "128Mi", "500m", "256Mi")],
    "qa": [(2, 4, "100m", "128Mi", "500m", "256Mi"), (2, 5, "200m", "256Mi", "1", "512Mi")],
    "prod": [(3, 12, "250m", "256Mi", "1", "512Mi"), (4, 20, "500m", "512Mi", "2", "1Gi")],
}

TEAMS = ["payments", "checkout", "catalog", "identity", "search", "growth", "data", "sre", "infra", "mobile"]
REGISTRIES = ["ghcr.io/example", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/example", "registry.example.com/apps"]
LANGS = [
    # (runtime, port, health path, readiness path, metrics path, extra env)
    ("go", 8080, "/healthz", "/readyz", "/metrics", [("GOMAXPROCS", "2"), ("GOMEMLIMIT", "200MiB")]),
    ("jvm", 8080, "/actuator/health/liveness", "/actuator/health/readiness", "/actuator/prometheus",
     [("JAVA_TOOL_OPTIONS", "-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError")]),
    ("node", 3000, "/healthz", "/ready", "/metrics", [("NODE_ENV", "production"), ("UV_THREADPOOL_SIZE", "8")]),
    ("python", 8000, "/health/live", "/health/ready", "/metrics", [("PYTHONUNBUFFERED", "1"), ("WEB_CONCURRENCY", "2")]),
]
SIDECARS = [
    ("otel-collector", "otel/opentelemetry-collector-contrib", ["0.98.0", "0.97.0", "0.95.0"], 4317),
    ("envoy", "envoyproxy/envoy", ["v1.30.1", "v1.29.4", "v1.29.2"], 9901),
]


def q(s):
    """A YAML double-quoted scalar."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def semver(rng):
    return (rng.randint(0, 4), rng.randint(0, 30), rng.randint(0, 20))


def labels_block(app, component, team, indent):
    pad = " " * indent
    return (
        f"{pad}app.kubernetes.io/name: {app['name']}\n"
        f"{pad}app.kubernetes.io/instance: {app['name']}\n"
        f"{pad}app.kubernetes.io/component: {component}\n"
        f"{pad}app.kubernetes.io/part-of: {team}\n"
        f"{pad}app.kubernetes.io/managed-by: tidegate\n"
    )


def make_app(rng, i, wave):
    name = f"svc-{i:04d}"
    lang = rng.choice(LANGS)
    sidecar = rng.choice(SIDECARS) if rng.random() < 0.3 else None
    registry = rng.choice(REGISTRIES)
    team = rng.choice(TEAMS)
    component = {"core": "controller", "platform": "server", "business": rng.choice(["api", "web", "worker"])}[wave]
    ingress = wave == "business" and component == "web"
    rbac = wave in ("core", "platform") and rng.random() < 0.6
    major, minor, patch = semver(rng)
    # prod <= qa <= dev: something to promote.
    tags = {
        "prod": f"{major}.{minor}.{patch}",
        "qa": f"{major}.{minor}.{patch + rng.randint(0, 2)}",
        "dev": f"{major}.{minor + 1}.{rng.randint(0, 5)}-rc.{rng.randint(1, 9)}",
    }
    return {
        "index": i,
        "name": name,
        "wave": wave,
        "lang": lang,
        "sidecar": sidecar,
        "image": f"{registry}/{name}",
        "tags": tags,
        "team": team,
        "component": component,
        "ingress": ingress,
        "rbac": rbac,
        "size": rng.randrange(2),
        "third_patch": rng.choice(["configmap", "pdb", "hpa-metric"]),
        "annotate": rng.random() < 0.5,
        "uid": 10000 + rng.randint(1, 50000),
    }


# ---------------------------------------------------------------------------- base manifests


def base_files(app):
    n = app["name"]
    comp = app["component"]
    team = app["team"]
    runtime, port, live, ready, metrics, extra_env = app["lang"]
    files = {}
    lbl = lambda ind: labels_block(app, comp, team, ind)  # noqa: E731
    sel = lambda ind: (  # noqa: E731
        " " * ind + f"app.kubernetes.io/name: {n}\n" + " " * ind + f"app.kubernetes.io/component: {comp}\n"
    )

    files["serviceaccount.yaml"] = (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n"
        f"  name: {n}\n  labels:\n{lbl(4)}"
        + (f"  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/{n}\n" if app["rbac"] else "")
        + f"automountServiceAccountToken: {'true' if app['rbac'] else 'false'}\n"
    )

    env_lines = "".join(f"  {k}: {q(v)}\n" for k, v in extra_env)
    files["configmap.yaml"] = (
        "# Read once at start-up (envFrom).\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {n}-config\n  labels:\n{lbl(4)}"
        "data:\n"
        "  LOG_LEVEL: info\n"
        "  LOG_FORMAT: json\n"
        f"  OTEL_SERVICE_NAME: {n}\n"
        "  OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector.observability.svc.cluster.local:4317\n"
        f"  FEATURE_FLAGS_URL: http://flags.platform.svc.cluster.local:8080/v1/{n}\n"
        f"{env_lines}"
    )

    sidecar = ""
    sidecar_volumes = ""
    if app["sidecar"]:
        sname, simage, stags, sport = app["sidecar"]
        sidecar = (
            f"        - name: {sname}\n"
            f"          image: {simage}:{stags[-1]}\n"
            "          imagePullPolicy: IfNotPresent\n"
            "          ports:\n"
            f"            - name: {sname[:15]}\n"
            f"              containerPort: {sport}\n"
            "              protocol: TCP\n"
            "          resources:\n"
            "            requests:\n              cpu: 20m\n              memory: 32Mi\n"
            "            limits:\n              cpu: 200m\n              memory: 128Mi\n"
            "          securityContext:\n"
            "            allowPrivilegeEscalation: false\n"
            "            readOnlyRootFilesystem: true\n"
            "            runAsNonRoot: true\n"
            "            capabilities:\n              drop: [\"ALL\"]\n"
            "          volumeMounts:\n"
            f"            - name: {sname}-tmp\n              mountPath: /tmp\n"
        )
        sidecar_volumes = f"        - name: {sname}-tmp\n          emptyDir:\n            sizeLimit: 32Mi\n"

    files["deployment.yaml"] = (
        "# No spec.replicas: the HorizontalPodAutoscaler owns the replica count.\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: {n}\n  labels:\n{lbl(4)}"
        "spec:\n"
        "  revisionHistoryLimit: 5\n"
        "  progressDeadlineSeconds: 600\n"
        "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 25%\n      maxUnavailable: 0\n"
        f"  selector:\n    matchLabels:\n{sel(6)}"
        "  template:\n    metadata:\n"
        f"      labels:\n{labels_block(app, comp, team, 8)}"
        "      annotations:\n"
        '        prometheus.io/scrape: "true"\n'
        f"        prometheus.io/port: {q(port)}\n"
        f"        prometheus.io/path: {metrics}\n"
        "    spec:\n"
        f"      serviceAccountName: {n}\n"
        f"      automountServiceAccountToken: {'true' if app['rbac'] else 'false'}\n"
        "      terminationGracePeriodSeconds: 30\n"
        "      securityContext:\n"
        "        runAsNonRoot: true\n"
        f"        runAsUser: {app['uid']}\n"
        f"        runAsGroup: {app['uid']}\n"
        f"        fsGroup: {app['uid']}\n"
        "        seccompProfile:\n          type: RuntimeDefault\n"
        "      containers:\n"
        f"        - name: {n}\n"
        f"          image: {app['image']}:{app['tags']['prod']}\n"
        "          imagePullPolicy: IfNotPresent\n"
        "          envFrom:\n"
        f"            - configMapRef:\n                name: {n}-config\n"
        "          env:\n"
        f"            - name: PORT\n              value: {q(port)}\n"
        "            - name: POD_NAME\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.name\n"
        "            - name: POD_NAMESPACE\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.namespace\n"
        "          ports:\n"
        f"            - name: http\n              containerPort: {port}\n              protocol: TCP\n"
        "          startupProbe:\n"
        f"            httpGet:\n              path: {live}\n              port: http\n"
        "            periodSeconds: 2\n            failureThreshold: 60\n"
        "          livenessProbe:\n"
        f"            httpGet:\n              path: {live}\n              port: http\n"
        "            periodSeconds: 10\n            timeoutSeconds: 2\n            failureThreshold: 3\n"
        "          readinessProbe:\n"
        f"            httpGet:\n              path: {ready}\n              port: http\n"
        "            periodSeconds: 5\n            timeoutSeconds: 2\n            failureThreshold: 3\n"
        "          resources:\n"
        "            requests:\n              cpu: 100m\n              memory: 128Mi\n"
        "            limits:\n              cpu: 500m\n              memory: 256Mi\n"
        "          securityContext:\n"
        "            allowPrivilegeEscalation: false\n"
        "            readOnlyRootFilesystem: true\n"
        "            runAsNonRoot: true\n"
        "            capabilities:\n              drop: [\"ALL\"]\n"
        "          volumeMounts:\n"
        "            - name: tmp\n              mountPath: /tmp\n"
        f"{sidecar}"
        "      volumes:\n"
        "        - name: tmp\n          emptyDir:\n            sizeLimit: 64Mi\n"
        f"{sidecar_volumes}"
        "      topologySpreadConstraints:\n"
        "        - maxSkew: 1\n"
        "          topologyKey: topology.kubernetes.io/zone\n"
        "          whenUnsatisfiable: ScheduleAnyway\n"
        f"          labelSelector:\n            matchLabels:\n{sel(14)}"
    )

    files["service.yaml"] = (
        "apiVersion: v1\nkind: Service\nmetadata:\n"
        f"  name: {n}\n  labels:\n{lbl(4)}"
        "spec:\n  type: ClusterIP\n  ports:\n"
        "    - name: http\n      port: 80\n      targetPort: http\n      protocol: TCP\n"
        f"  selector:\n{sel(4)}"
    )

    files["horizontalpodautoscaler.yaml"] = (
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n"
        f"  name: {n}\n  labels:\n{lbl(4)}"
        "spec:\n"
        f"  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: {n}\n"
        "  minReplicas: 2\n  maxReplicas: 6\n"
        "  metrics:\n"
        "    - type: Resource\n      resource:\n        name: cpu\n        target:\n"
        "          type: Utilization\n          averageUtilization: 70\n"
        "  behavior:\n"
        "    scaleDown:\n      stabilizationWindowSeconds: 300\n      policies:\n"
        "        - type: Pods\n          value: 1\n          periodSeconds: 60\n"
    )

    files["poddisruptionbudget.yaml"] = (
        "# maxUnavailable rather than minAvailable: with a single replica (dev) a drain can proceed.\n"
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n"
        f"  name: {n}\n  labels:\n{lbl(4)}"
        "spec:\n  maxUnavailable: 1\n"
        f"  selector:\n    matchLabels:\n{sel(6)}"
    )

    ingress_from = (
        "    - from:\n        - ipBlock:\n            cidr: 10.0.0.0/8\n"
        if app["ingress"]
        else "    - from:\n        - namespaceSelector:\n            matchLabels:\n"
        f"              app.kubernetes.io/part-of: {team}\n"
    )
    files["networkpolicy.yaml"] = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
        f"  name: {n}\n  labels:\n{lbl(4)}"
        "spec:\n"
        f"  podSelector:\n    matchLabels:\n{sel(6)}"
        '  policyTypes: ["Ingress", "Egress"]\n'
        "  ingress:\n"
        f"{ingress_from}"
        f"      ports:\n        - port: {port}\n          protocol: TCP\n"
        "    - from:\n        - namespaceSelector:\n            matchLabels:\n"
        "              kubernetes.io/metadata.name: monitoring\n"
        "          podSelector:\n            matchLabels:\n              app.kubernetes.io/name: prometheus\n"
        f"      ports:\n        - port: {port}\n          protocol: TCP\n"
        "  egress:\n"
        "    - to:\n        - namespaceSelector: {}\n          podSelector:\n            matchLabels:\n"
        "              k8s-app: kube-dns\n"
        "      ports:\n        - port: 53\n          protocol: UDP\n        - port: 53\n          protocol: TCP\n"
        "    - to:\n        - namespaceSelector:\n            matchLabels:\n"
        "              kubernetes.io/metadata.name: observability\n"
        "      ports:\n        - port: 4317\n          protocol: TCP\n"
    )

    resources = [
        "serviceaccount.yaml",
        "configmap.yaml",
        "deployment.yaml",
        "service.yaml",
        "horizontalpodautoscaler.yaml",
        "poddisruptionbudget.yaml",
        "networkpolicy.yaml",
    ]

    if app["ingress"]:
        files["ingress.yaml"] = (
            "# AWS Load Balancer Controller; host and certificate are per environment (overlays).\n"
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n"
            f"  name: {n}\n  labels:\n{lbl(4)}"
            "  annotations:\n"
            "    alb.ingress.kubernetes.io/scheme: internet-facing\n"
            "    alb.ingress.kubernetes.io/target-type: ip\n"
            f"    alb.ingress.kubernetes.io/group.name: {team}\n"
            "    alb.ingress.kubernetes.io/listen-ports: '[{\"HTTP\": 80}, {\"HTTPS\": 443}]'\n"
            '    alb.ingress.kubernetes.io/ssl-redirect: "443"\n'
            f"    alb.ingress.kubernetes.io/healthcheck-path: {ready}\n"
            "spec:\n  ingressClassName: alb\n"
            f"  tls:\n    - hosts:\n        - {n}.example.com\n"
            f"  rules:\n    - host: {n}.example.com\n      http:\n        paths:\n"
            "          - path: /\n            pathType: Prefix\n            backend:\n              service:\n"
            f"                name: {n}\n                port:\n                  name: http\n"
        )
        resources.append("ingress.yaml")
    elif app["rbac"]:
        files["rbac.yaml"] = (
            "# Leader election and its own ConfigMaps, in its namespace only.\n"
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n"
            f"  name: {n}\n  labels:\n{lbl(4)}"
            "rules:\n"
            '  - apiGroups: ["coordination.k8s.io"]\n    resources: ["leases"]\n'
            '    verbs: ["get", "list", "watch", "create", "update", "patch"]\n'
            '  - apiGroups: [""]\n    resources: ["configmaps", "events"]\n'
            '    verbs: ["get", "list", "watch", "create", "patch"]\n'
            "---\n"
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n"
            f"  name: {n}\n  labels:\n{lbl(4)}"
            f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {n}\n"
            f"subjects:\n  - kind: ServiceAccount\n    name: {n}\n"
        )
        resources.append("rbac.yaml")

    files["kustomization.yaml"] = (
        f"# {n}: {runtime} {comp} of team {team} ({app['wave']} wave).\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n" + "".join(f"  - {r}\n" for r in resources)
    )
    return files


def app_yaml(app):
    return (
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata:\n"
        f"  name: {app['name']}\n"
        "spec:\n"
        f"  wave: {app['wave']}\n"
        f"  namespace: {app['name']}\n"
        "  base: base\n"
        "  environments: [dev, qa, prod]\n"
    )


# ---------------------------------------------------------------------------- overlays


def overlay(app, env):
    n = app["name"]
    wave = app["wave"]
    hmin, hmax, creq, mreq, clim, mlim = ENV_SIZES[env][app["size"]]
    out = [
        f"# {n} in {env}.\n",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
        f"resources:\n  - ../../../apps-of-apps/{wave}/{n}/base\n",
        f"namespace: {n}\n",
        "labels:\n  - pairs:\n",
        f"      environment: {env}\n",
        f"      team: {app['team']}\n",
    ]
    if app["annotate"]:
        out.append(
            "commonAnnotations:\n"
            f"  example.com/owner: team-{app['team']}@example.com\n"
            f"  example.com/runbook: https://runbooks.example.com/{n}\n"
        )
    out.append("images:\n")
    comment = {"dev": "set by CI", "qa": "promoted from dev", "prod": "promoted from qa"}[env]
    out.append(f"  - name: {app['image']}\n    newTag: {q(app['tags'][env])} # {comment}\n")
    if app["sidecar"]:
        _, simage, stags, _ = app["sidecar"]
        out.append(f"  - name: {simage}\n    newTag: {q(stags[ENVS.index(env)])}\n")
    out.append("patches:\n")
    out.append(
        "  # Replica range: the Deployment has no spec.replicas, the HPA owns it.\n"
        "  - target:\n      kind: HorizontalPodAutoscaler\n"
        f"      name: {n}\n"
        "    patch: |\n"
        f"      - op: replace\n        path: /spec/minReplicas\n        value: {hmin}\n"
        f"      - op: replace\n        path: /spec/maxReplicas\n        value: {hmax}\n"
    )
    out.append(
        "  - target:\n      group: apps\n      version: v1\n      kind: Deployment\n"
        f"      name: {n}\n"
        "    patch: |\n"
        "      - op: replace\n        path: /spec/template/spec/containers/0/resources\n        value:\n"
        f"          requests:\n            cpu: {creq}\n            memory: {mreq}\n"
        f"          limits:\n            cpu: {clim}\n            memory: {mlim}\n"
    )
    third = app["third_patch"]
    if third == "configmap":
        level = "debug" if env == "dev" else "info"
        out.append(
            "  - target:\n      kind: ConfigMap\n"
            f"      name: {n}-config\n"
            "    patch: |\n"
            f"      - op: replace\n        path: /data/LOG_LEVEL\n        value: {level}\n"
            f"      - op: add\n        path: /data/ENVIRONMENT\n        value: {env}\n"
        )
    elif third == "pdb" and env == "prod":
        out.append(
            "  - target:\n      kind: PodDisruptionBudget\n"
            f"      name: {n}\n"
            "    patch: |\n"
            "      - op: remove\n        path: /spec/maxUnavailable\n"
            '      - op: add\n        path: /spec/minAvailable\n        value: "50%"\n'
        )
    elif third == "hpa-metric" and env != "dev":
        out.append(
            "  - target:\n      kind: HorizontalPodAutoscaler\n"
            f"      name: {n}\n"
            "    patch: |\n"
            "      - op: add\n        path: /spec/metrics/-\n        value:\n"
            "          type: Resource\n          resource:\n            name: memory\n"
            "            target:\n              type: Utilization\n              averageUtilization: 80\n"
        )
    if app["ingress"]:
        host = f"{n}.example.com" if env == "prod" else f"{n}.{env}.example.com"
        out.append(
            "  # Host of this environment.\n"
            "  - target:\n      group: networking.k8s.io\n      version: v1\n      kind: Ingress\n"
            f"      name: {n}\n"
            "    patch: |\n"
            f"      - op: replace\n        path: /spec/rules/0/host\n        value: {host}\n"
            f"      - op: replace\n        path: /spec/tls/0/hosts/0\n        value: {host}\n"
        )
    return "".join(out)


# ---------------------------------------------------------------------------- main

ROOT_YAML = """\
# Synthetic benchmark platform generated by bench/gen_synthetic_repo.py ({n} apps, seed {seed}).
apiVersion: tidegate.dev/v1alpha1
kind: Root
metadata:
  name: synthetic-platform
spec:
  environments:
    - name: dev
    - name: qa
    - name: prod
  waves:
    - name: core
    - name: platform
    - name: business
  overlaysDir: overlays
  apps:
    - core
    - platform
    - business
"""


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", metavar="OUT_DIR")
    ap.add_argument("--apps", type=int, default=1000, metavar="N", help="number of apps (default 1000)")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed (default 20240601)")
    ap.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    args = ap.parse_args(argv)
    if args.apps < 3:
        ap.error("--apps must be at least 3 (one per wave)")
    out = args.out_dir
    if os.path.exists(out) and os.listdir(out):
        if not args.force:
            ap.error(f"{out} exists and is not empty (use --force)")
        shutil.rmtree(out)
    rng = random.Random(args.seed)

    n_core = max(1, round(args.apps * 0.10))
    n_platform = max(1, round(args.apps * 0.20))
    waves = ["core"] * n_core + ["platform"] * n_platform + ["business"] * (args.apps - n_core - n_platform)

    write(os.path.join(out, "apps-of-apps", "root.yaml"), ROOT_YAML.format(n=args.apps, seed=args.seed))
    files = 1
    objects = 0
    for i, wave in enumerate(waves, start=1):
        app = make_app(rng, i, wave)
        app_dir = os.path.join(out, "apps-of-apps", wave, app["name"])
        write(os.path.join(app_dir, "app.yaml"), app_yaml(app))
        for fname, text in base_files(app).items():
            write(os.path.join(app_dir, "base", fname), text)
            files += 1
            if fname != "kustomization.yaml":
                objects += text.count("\nkind: ")
        for env in ENVS:
            write(os.path.join(out, "overlays", env, app["name"], "kustomization.yaml"), overlay(app, env))
            files += 1
        files += 1
    print(
        f"generated {args.apps} apps (core {n_core}, platform {n_platform}, business {args.apps - n_core - n_platform}), "
        f"{len(ENVS)} environments, {objects} base objects, {files} files in {out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
