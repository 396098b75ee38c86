"""Kubernetes resource quantities in their canonical form ("1000m" is stored as "1").

The API server stores quantities canonically, so a template read back from the server (for
example by ``kubectl rollout undo``) equals the one the controller hashed.
"""
import re
from fractions import Fraction

DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
PATTERN = re.compile(r"^([+-]?[0-9]*\.?[0-9]+|[+-]?[0-9]+\.)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


class QuantityError(ValueError):
    pass


def parse(text):
    """(value as Fraction, format) where format is "BinarySI", "DecimalSI" or "DecimalExponent"."""
    if isinstance(text, (int, float)):
        text = str(text)
    match = PATTERN.match(str(text).strip())
    if not match:
        raise QuantityError("quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    number, suffix = match.group(1), match.group(2) or ""
    value = Fraction(number)
    if suffix in BINARY:
        return value * (2 ** BINARY[suffix]), "BinarySI"
    if suffix[:1] in ("e", "E"):
        return value * Fraction(10) ** int(suffix[1:]), "DecimalExponent"
    return value * Fraction(10) ** DECIMAL[suffix], "DecimalSI"


def canonical(text):
    value, fmt = parse(text)
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if fmt == "BinarySI" and value.denominator == 1 and value >= 1024:
        for suffix, power in sorted(BINARY.items(), key=lambda kv: -kv[1]):
            if value % (2 ** power) == 0:
                return "%s%d%s" % (sign, value // (2 ** power), suffix)
    # Decimal: round up to nano precision, then the largest exponent giving an integer.
    nanos = -(-value * 10 ** 9 // 1)
    best = None
    for suffix, exponent in sorted(DECIMAL.items(), key=lambda kv: -kv[1]):
        scale = 10 ** (exponent + 9)
        if nanos % scale == 0:
            best = (nanos // scale, suffix, exponent)
            break
    mantissa, suffix, exponent = best
    if fmt == "DecimalExponent":
        return "%s%d%s" % (sign, mantissa, "e%d" % exponent if exponent else "")
    return "%s%d%s" % (sign, mantissa, suffix)


def _pod_specs(plural, obj):
    spec = obj.get("spec") or {}
    if plural == "pods":
        yield spec
    elif plural in ("deployments", "replicasets"):
        yield ((spec.get("template") or {}).get("spec") or {})


def canonicalize(plural, obj):
    """Rewrite container resource quantities in place; invalid ones are left for validation."""
    for pod_spec in _pod_specs(plural, obj):
        for key in ("containers", "initContainers"):
            for container in pod_spec.get(key) or []:
                resources = container.get("resources") or {}
                for section in ("limits", "requests"):
                    values = resources.get(section)
                    if not isinstance(values, dict):
                        continue
                    for name, quantity in list(values.items()):
                        try:
                            values[name] = canonical(quantity)
                        except (QuantityError, TypeError):
                            pass
