"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes strategic merge patch.

The strategic merge follows k8s.io/apimachinery/pkg/util/strategicpatch (``mergeMap``,
``mergeSlice``, ``normalizeElementOrder``, the ``$patch``, ``$retainKeys``,
``$setElementOrder/`` and ``$deleteFromPrimitiveList/`` directives), with the
``patchStrategy``/``patchMergeKey`` struct tags of the core/v1, apps/v1 and meta/v1 types the
sandbox serves written down as a small schema table. One deliberate difference: Kubernetes
decodes the merged JSON into Go structs, which silently drops leftover directive keys; the
sandbox stores JSON as-is, so directives are always consumed here, never stored.
"""
import copy

import jsonpatch
import jsonpointer

__all__ = ["PatchError", "merge_patch", "json_patch", "strategic_merge_patch"]


class PatchError(ValueError):
    """A patch that cannot be applied; the message is meant for a 400/422 Status."""


# ---------------------------------------------------------------- RFC 7386
def merge_patch(target, patch):
    """Apply a JSON merge patch; returns a new object, inputs untouched."""
    if not isinstance(patch, dict):
        raise PatchError("a merge patch must be a JSON object, got %s" % _json_type(patch))
    return _merge_value(target if isinstance(target, dict) else {}, patch)


def _merge_value(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_value(result.get(key), value)
    return result


# ---------------------------------------------------------------- RFC 6902
def json_patch(target, ops):
    """Apply a JSON patch (a list of operations); returns a new object, inputs untouched."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a JSON array of operations, got %s" % _json_type(ops))
    for index, op in enumerate(ops):
        if not isinstance(op, dict):
            raise PatchError("JSON patch operation %d must be an object, got %s"
                             % (index, _json_type(op)))
    doc = copy.deepcopy(target)
    for index, op in enumerate(copy.deepcopy(ops)):
        try:
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except jsonpatch.JsonPatchTestFailed as err:
            raise PatchError("JSON patch operation %d (test %s) failed: %s"
                             % (index, op.get("path"), err)) from None
        except jsonpatch.InvalidJsonPatch as err:
            raise PatchError("JSON patch operation %d is malformed: %s" % (index, err)) from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
            raise PatchError("JSON patch operation %d (%s %s) cannot be applied: %s"
                             % (index, op.get("op"), op.get("path"), _without_document(err))) from None
        except (TypeError, ValueError, KeyError, IndexError) as err:
            raise PatchError("JSON patch operation %d (%s %s) is invalid: %s"
                             % (index, op.get("op"), op.get("path"), err)) from None
    if not isinstance(doc, dict):
        raise PatchError("the JSON patch replaced the object with %s; it must stay a JSON object"
                         % _json_type(doc))
    return doc


def _without_document(err):
    """jsonpointer's message with the document it searched cut off ("member 'x' not found in
    {...the whole object...}"): the Status must not echo the object, a Secret's data included."""
    return str(err).split(" in {", 1)[0].split(" in [", 1)[0]


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ---------------------------------------------------------------- patch metadata
class Field:
    """The patch metadata of one struct field (its Go ``patchStrategy``/``patchMergeKey`` tags).

    ``type`` is the Struct of the field (for a struct field) or of its elements (for a list).
    """

    __slots__ = ("strategy", "merge_key", "type")

    def __init__(self, strategy="", merge_key="", type=None):
        self.strategy = strategy
        self.merge_key = merge_key
        self.type = type


class Struct:
    """Known fields of a Go struct; unknown fields behave as untagged (maps merge, lists replace)."""

    def __init__(self, name, **fields):
        self.name = name
        self.fields = fields

    def lookup(self, key):
        return self.fields.get(key) or _UNTAGGED


_UNTAGGED = Field()


def _merge(key, elem=None):
    return Field("merge", key, elem)


def _struct(struct, strategy=""):
    return Field(strategy, "", struct)


OBJECT_META = Struct(
    "ObjectMeta",
    finalizers=_merge(""),                 # a set of strings
    ownerReferences=_merge("uid"),
)
CONTAINER = Struct(
    "Container",
    ports=_merge("containerPort"),
    env=_merge("name"),
    volumeMounts=_merge("mountPath"),
    volumeDevices=_merge("devicePath"),
)
POD_SPEC = Struct(
    "PodSpec",
    volumes=Field("merge", "name"),        # merge,retainKeys
    initContainers=_merge("name", CONTAINER),
    containers=_merge("name", CONTAINER),
    ephemeralContainers=_merge("name", CONTAINER),
    imagePullSecrets=_merge("name"),
    hostAliases=_merge("ip"),
    topologySpreadConstraints=_merge("topologyKey"),
    schedulingGates=_merge("name"),
    resourceClaims=Field("merge", "name"),  # merge,retainKeys
)
CONDITIONS_STATUS = Struct("Status", conditions=_merge("type"))
POD_STATUS = Struct(
    "PodStatus",
    conditions=_merge("type"),
    podIPs=_merge("ip"),
    hostIPs=_merge("ip"),
    resourceClaimStatuses=_merge("name"),
)
POD_TEMPLATE_SPEC = Struct("PodTemplateSpec", metadata=_struct(OBJECT_META), spec=_struct(POD_SPEC))


def _kind(name, spec=None, status=None):
    fields = {"metadata": _struct(OBJECT_META)}
    if spec is not None:
        fields["spec"] = _struct(spec)
    if status is not None:
        fields["status"] = _struct(status)
    return Struct(name, **fields)


SCHEMAS = {
    "pods": _kind("Pod", POD_SPEC, POD_STATUS),
    "deployments": _kind(
        "Deployment",
        Struct("DeploymentSpec", template=_struct(POD_TEMPLATE_SPEC),
               strategy=_struct(Struct("DeploymentStrategy"), "retainKeys")),
        CONDITIONS_STATUS),
    "replicasets": _kind(
        "ReplicaSet",
        Struct("ReplicaSetSpec", template=_struct(POD_TEMPLATE_SPEC)),
        CONDITIONS_STATUS),
    "services": _kind("Service", Struct("ServiceSpec", ports=_merge("port")), CONDITIONS_STATUS),
    "nodes": _kind(
        "Node",
        Struct("NodeSpec", podCIDRs=_merge("")),
        Struct("NodeStatus", conditions=_merge("type"), addresses=_merge("type"))),
    "namespaces": _kind("Namespace", None, CONDITIONS_STATUS),
    "endpoints": _kind("Endpoints"),       # subsets have no merge key: replaced
    "configmaps": _kind("ConfigMap"),
    "secrets": _kind("Secret"),
    "events": _kind("Event"),
    "ingresses": _kind("Ingress"),
    "leases": _kind("Lease"),
}

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


# ---------------------------------------------------------------- strategic merge patch
def strategic_merge_patch(target, patch, resource):
    """Apply a Kubernetes strategic merge patch to ``target`` (an object of ``resource``).

    Returns a new object; neither input is changed.
    """
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object, got %s" % _json_type(patch))
    schema = SCHEMAS.get(resource)
    if schema is None:
        raise PatchError("strategic merge patch is not supported for resource %r" % (resource,))
    if patch.get(DIRECTIVE) == "delete":
        raise PatchError("a strategic merge patch cannot delete the whole object ($patch: delete "
                         "at the top level); use DELETE instead")
    original = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _merge_map(original, copy.deepcopy(patch), schema)


def _merge_map(original, patch, schema):
    """``mergeMap``: merge ``patch`` into ``original`` (both owned copies; ``original`` mutated)."""
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive not in ("replace", "delete"):
            raise PatchError(_bad_patch_type(directive, patch))
        del patch[DIRECTIVE]
        if directive == "replace":
            return _clean(patch, schema)
        # `delete`: Kubernetes leaves an empty map behind (the key stays), exactly like this.
        return {}
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, schema)
    for key, value in list(patch.items()):
        delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            key = _directive_target(key, DELETE_FROM_PRIMITIVE_LIST)
            delete_list = True
        elif key.startswith("$"):
            raise PatchError("unknown strategic merge patch directive %r" % key)
        if value is None:
            original.pop(key, None)
            continue
        meta = schema.lookup(key) if schema else _UNTAGGED
        if delete_list:
            if isinstance(original.get(key), list):
                if not isinstance(value, list):
                    raise PatchError("invalid patch: %s%s must be a list"
                                     % (DELETE_FROM_PRIMITIVE_LIST, key))
                original[key] = [item for item in original[key] if item not in value]
            continue
        if key not in original or _category(original[key]) != _category(value):
            # New value, or the type changed: take the patch value, consuming any directives.
            original[key] = _clean(value, meta.type, meta)
            continue
        if isinstance(value, dict):
            if meta.strategy == "replace":
                original[key] = _clean(value, meta.type, meta)
            else:
                original[key] = _merge_map(original[key], value, meta.type)
        elif isinstance(value, list):
            original[key] = _merge_list_field(original[key], value, meta)
        else:
            original[key] = value
    return original


def _clean(value, schema, meta=None):
    """A patch value placed where the original had nothing: directives processed, not stored."""
    if isinstance(value, dict):
        return _merge_map({}, value, schema)
    if isinstance(value, list):
        return _take_list(value, meta or _UNTAGGED)
    return value


def _category(value):
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _merge_list_field(original, patch, meta):
    """``mergeSliceHandler``: merge lists with the merge strategy, replace the others."""
    if meta.strategy == "merge":
        return _merge_slice(original, patch, meta)
    return _take_list(patch, meta)


def _take_list(patch, meta):
    """A list that replaces whatever was there, taken as given (duplicates too, as Kubernetes
    does): only `$patch` elements are consumed, having nothing left to act on."""
    taken = []
    for item in patch:
        if isinstance(item, dict) and DIRECTIVE in item:
            if item[DIRECTIVE] not in ("replace", "delete"):
                raise PatchError(_bad_patch_type(item[DIRECTIVE], item))
            continue
        taken.append(_clean(item, meta.type) if isinstance(item, dict) else item)
    return taken


def _merge_slice(original, patch, meta):
    """``mergeSlice``: lists of primitives become sets; lists of maps merge by the merge key."""
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    key = meta.merge_key
    if kind != "map":
        merged = _dedupe(original + patch)
        patch_items = [v for v in merged if v in patch]
        server_only = [v for v in merged if v not in patch]
        return _normalize_order(patch_items, server_only, patch, original, None)
    if not key:
        raise PatchError("cannot merge lists without merge key for type %s"
                         % (meta.type.name if meta.type else "map"))
    original, patch = _apply_special_elements(original, patch, key)
    merged = list(original)
    for item in patch:
        if key not in item:
            raise PatchError(_no_merge_key(item, key))
        index = _find_by_key(merged, key, item[key])
        if index is None:
            merged.append(_clean(item, meta.type))
        else:
            merged[index] = _merge_map(merged[index], item, meta.type)
    patch_items, server_only = _partition_maps(merged, patch, key)
    return _normalize_order(patch_items, server_only, patch, original, key)


def _element_kind(*lists):
    """``sliceElementType``: every element must be of one kind (and not a list)."""
    kinds = {_category(item) for items in lists for item in items}
    if "list" in kinds:
        raise PatchError("lists of lists are not supported by strategic merge patch")
    if len(kinds) > 1:
        raise PatchError("list element types are not identical: %r" % (list(lists),))
    return kinds.pop() if kinds else "scalar"


def _dedupe(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _apply_special_elements(original, patch, key):
    """``mergeSliceWithSpecialElements``: apply ``$patch`` list elements, return what is left."""
    remaining, replace = [], False
    for item in patch:
        if DIRECTIVE not in item:
            remaining.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise PatchError(_no_merge_key(item, key))
            original = [o for o in original if not (isinstance(o, dict) and key in o
                                                    and o[key] == item[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(_bad_patch_type(directive, item))
    if replace:
        return [], remaining
    return original, remaining


def _find_by_key(items, key, value):
    for index, item in enumerate(items):
        if isinstance(item, dict) and key in item and item[key] == value:
            return index
    return None


def _partition_maps(merged, order, key):
    patch_items, server_only = [], []
    for item in merged:
        if key not in item:
            raise PatchError(_no_merge_key(item, key))
        if _find_by_key(order, key, item[key]) is not None:
            patch_items.append(item)
        else:
            server_only.append(item)
    return patch_items, server_only


def _identity(item, key):
    return item.get(key) if key is not None and isinstance(item, dict) else item


def _index(order, item, key):
    wanted = _identity(item, key)
    for i, candidate in enumerate(order):
        if _identity(candidate, key) == wanted:
            return i
    return -1


def _normalize_order(patch_items, server_only, patch_order, server_order, key):
    """``normalizeElementOrder``: patch items in patch order, server-only items in server order,
    interleaved by the server order where both are known (Kubernetes' exact rule: an item the
    server did not have is placed before the server-only items that follow it)."""
    patch_items = _sort_by(patch_items, patch_order, key)
    server_only = _sort_by(server_only, server_order, key)
    result, i, j = [], 0, 0
    while i < len(server_only) or j < len(patch_items):
        if i >= len(server_only):
            result.append(patch_items[j])
            j += 1
        elif j >= len(patch_items):
            result.append(server_only[i])
            i += 1
        else:
            li = _index(server_order, server_only[i], key)
            ri = _index(server_order, patch_items[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                result.append(server_only[i])
                i += 1
            else:
                result.append(patch_items[j])
                j += 1
    return result


def _sort_by(items, order, key):
    """Stable sort of ``items`` by their position in ``order`` (unknown ones keep their place
    relative to each other and go last)."""
    positions = [_index(order, item, key) for item in items]
    known = sorted((p, n) for n, p in enumerate(positions) if p >= 0)
    unknown = [items[n] for n, p in enumerate(positions) if p < 0]
    return [items[n] for _, n in known] + unknown


def _apply_retain_keys(original, patch):
    """``applyRetainKeysDirective``: clear every original key the directive does not list."""
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError("invalid patch format of retainKeys: $retainKeys must be a list")
    for key, value in patch.items():
        if value is None or key.startswith(("$deleteFromPrimitiveList", "$setElementOrder")):
            continue
        if key not in retain:
            raise PatchError("invalid patch format of retainKeys: field %r is in the patch but "
                             "not in $retainKeys %r" % (key, retain))
    for key in list(original):
        if key not in retain:
            del original[key]


def _merge_ordered_lists(original, patch, schema):
    """``mergePatchIntoOriginal``: merge each list that has a ``$setElementOrder/`` directive,
    then order it as the directive says (directive order > patch order > live order)."""
    for directive_key in [k for k in patch if k.startswith("$setElementOrder")]:
        order = patch.pop(directive_key)
        key = _directive_target(directive_key, SET_ELEMENT_ORDER)
        if not isinstance(order, list):
            raise PatchError("invalid patch format of setElementOrder list: %s must be a list"
                             % directive_key)
        meta = schema.lookup(key) if schema else _UNTAGGED
        found_original, found_patch = key in original, key in patch
        original_list = original.get(key)
        patch_list = patch.get(key)
        if found_original and not isinstance(original_list, list):
            raise PatchError("cannot apply %s: %s is not a list" % (directive_key, key))
        if found_patch and not isinstance(patch_list, list):
            raise PatchError("cannot apply %s: the patch's %s is not a list" % (directive_key, key))
        merge_key = meta.merge_key if meta.strategy == "merge" else ""
        if found_patch:
            _check_order_consistent(patch_list, order, merge_key)
        if found_original and found_patch:
            merged = _merge_list_field(original_list, patch_list, meta)
        elif found_patch:
            merged = _take_list(patch_list, meta)
        elif found_original:
            merged = original_list
        else:
            continue
        if meta.strategy == "merge":
            kind = _element_kind(merged, order)
            if kind == "map":
                if not merge_key:
                    raise PatchError("cannot order %s: it has no merge key" % key)
                for item in order:
                    if not isinstance(item, dict) or merge_key not in item:
                        raise PatchError(_no_merge_key(item, merge_key))
                patch_items, server_only = _partition_maps(merged, order, merge_key)
                merged = _normalize_order(patch_items, server_only, order, original_list or [],
                                          merge_key)
            else:
                patch_items = [v for v in merged if v in order]
                server_only = [v for v in merged if v not in order]
                merged = _normalize_order(patch_items, server_only, order, original_list or [],
                                          None)
        original[key] = merged
        patch.pop(key, None)


def _check_order_consistent(patch_list, order, merge_key):
    """``validatePatchWithSetOrderList``: the patch list must follow the directive's order."""
    if not order or not patch_list:
        return
    if merge_key:
        items = [i for i in patch_list
                 if not (isinstance(i, dict) and i.get(DIRECTIVE) == "delete")]
    else:
        items = list(patch_list)
    p = s = 0
    while p < len(items) and s < len(order):
        item = items[p]
        if isinstance(item, dict) and DIRECTIVE in item:
            p += 1
            continue
        if merge_key:
            for value in (item, order[s]):
                if not isinstance(value, dict) or merge_key not in value:
                    raise PatchError(_no_merge_key(value, merge_key))
            equal = item[merge_key] == order[s][merge_key]
        else:
            equal = item == order[s]
        if equal:
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError("The order in patch list: %r doesn't match $setElementOrder list: %r"
                         % (patch_list, order))


def _directive_target(key, prefix):
    parts = key.split("/", 1)
    if len(parts) != 2 or parts[0] + "/" != prefix or not parts[1]:
        if prefix == SET_ELEMENT_ORDER:
            raise PatchError("invalid patch format of setElementOrder list: %r" % key)
        raise PatchError("invalid patch format of primitive list: %r" % key)
    return parts[1]


def _no_merge_key(item, key):
    return "map: %r does not contain declared merge key: %s" % (item, key)


def _bad_patch_type(directive, patch):
    return "unknown patch type: %s in map: %r" % (directive, patch)
