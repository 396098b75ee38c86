"""The resource types the sandbox serves, as Kubernetes' discovery describes them."""
from dataclasses import dataclass, field

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple = ()
    subresources: tuple = ()  # "status", "scale"
    singular: str = ""
    # Changes to these top-level fields do not bump metadata.generation.
    generation: bool = False
    # Discovery categories: "all" makes `kubectl get all` list this resource, as in Kubernetes.
    categories: tuple = ()

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_version(self):
        return self.api_version

    @property
    def qualified(self):
        """``deployments.apps`` as used in Status messages, ``pods`` for the core group."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def discovery(self):
        entries = [
            {
                "name": self.plural,
                "singularName": self.singular or self.kind.lower(),
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(VERBS),
                "shortNames": list(self.short_names),
            }
        ]
        if self.categories:
            entries[0]["categories"] = list(self.categories)
        for sub in self.subresources:
            if sub == "scale":
                entries.append(
                    {
                        "name": "%s/scale" % self.plural,
                        "singularName": "",
                        "namespaced": self.namespaced,
                        "group": "autoscaling",
                        "version": "v1",
                        "kind": "Scale",
                        "verbs": ["get", "patch", "update"],
                    }
                )
            else:
                entries.append(
                    {
                        "name": "%s/%s" % (self.plural, sub),
                        "singularName": "",
                        "namespaced": self.namespaced,
                        "kind": self.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return entries


RESOURCES = [
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), ("status",)),
    Resource("nodes", "Node", "", "v1", False, ("no",), ("status",)),
    Resource("pods", "Pod", "", "v1", True, ("po",), ("status",), categories=("all",)),
    Resource("services", "Service", "", "v1", True, ("svc",), ("status",), categories=("all",)),
    Resource("endpoints", "Endpoints", "", "v1", True, ("ep",), (), "endpoints"),
    Resource("configmaps", "ConfigMap", "", "v1", True, ("cm",)),
    Resource("secrets", "Secret", "", "v1", True),
    Resource("events", "Event", "", "v1", True, ("ev",)),
    Resource("deployments", "Deployment", "apps", "v1", True, ("deploy",), ("status", "scale"), generation=True,
             categories=("all",)),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, ("rs",), ("status", "scale"), generation=True,
             categories=("all",)),
    Resource("ingresses", "Ingress", "networking.k8s.io", "v1", True, ("ing",), ("status",), generation=True),
    Resource("ingressclasses", "IngressClass", "networking.k8s.io", "v1", False),
    Resource("leases", "Lease", "coordination.k8s.io", "v1", True),
]

BY_PLURAL = {r.plural: r for r in RESOURCES}
BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
GROUPS = {}
for _r in RESOURCES:
    GROUPS.setdefault(_r.group, []).append(_r)


def lookup(group, version, plural):
    res = BY_PLURAL.get(plural)
    if res is None or res.group != group or res.version != version:
        return None
    return res


def for_object(obj):
    """The Resource of a manifest (by apiVersion and kind), or None."""
    return BY_KIND.get((obj.get("apiVersion"), obj.get("kind")))
