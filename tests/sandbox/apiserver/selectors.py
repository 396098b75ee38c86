"""Label and field selectors, parsed and matched as kube-apiserver does.

Label selectors follow k8s.io/apimachinery/pkg/labels (lexer, parser, validation and error
texts); field selectors follow k8s.io/apimachinery/pkg/fields plus the per-resource field sets
of the core registries (which fields each kind can be selected by).
"""
import re

__all__ = [
    "SelectorError",
    "LabelSelector",
    "FieldSelector",
    "parse_label_selector",
    "selector_from_label_selector",
    "selector_from_map",
    "parse_field_selector",
    "qualified_name_errors",
    "label_value_errors",
    "dns1123_subdomain_errors",
]


class SelectorError(ValueError):
    """A selector the API server would answer with 400 BadRequest."""


# ---------------------------------------------------------------- name and value rules
# These are Kubernetes' own texts (k8s.io/apimachinery/pkg/util/validation); validation.py
# reuses them so a bad label reads the same in a selector and in an object.

def regex_error(msg, fmt, *examples):
    """``RegexError``: the message, examples and the regex, formatted as Kubernetes does."""
    if not examples:
        return "%s (regex used for validation is '%s')" % (msg, fmt)
    text = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            text += " or "
        text += "'%s', " % example
    return text + "regex used for validation is '%s')" % fmt


def max_len_error(length):
    return "must be no more than %d characters" % length


_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE = re.compile("^" + _QUALIFIED_NAME_FMT + "$")
_QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
                       "and end with an alphanumeric character")
_QUALIFIED_NAME_MAX = 63

_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_RE = re.compile("^" + _LABEL_VALUE_FMT + "$")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character")
_LABEL_VALUE_MAX = 63

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile("^" + _DNS1123_SUBDOMAIN_FMT + "$")
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_MAX = 253


def dns1123_subdomain_errors(value):
    """``IsDNS1123Subdomain``: [] when valid."""
    errs = []
    if len(value) > _DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(_DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def qualified_name_errors(value):
    """``IsQualifiedName``: an optional DNS subdomain prefix and '/', then a name of <= 63 chars."""
    errs = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > _QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(_QUALIFIED_NAME_MAX))
    if name and not _QUALIFIED_NAME_RE.match(name):
        errs.append("name part " + regex_error(
            _QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value_errors(value):
    """``IsValidLabelValue``: empty, or <= 63 alphanumerics with -_. inside."""
    errs = []
    if len(value) > _LABEL_VALUE_MAX:
        errs.append(max_len_error(_LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(value):
    """Go's %q for the strings that can appear here (selector text is ASCII in practice)."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _go_string_slice(values):
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


def _field_invalid(path, value, detail):
    """``field.Invalid(path, value, detail).Error()``."""
    shown = _go_quote(value) if isinstance(value, str) else _go_string_slice(value)
    return "%s: Invalid value: %s: %s" % (path, shown, detail)


def _aggregate(errs):
    """``utilerrors.NewAggregate(errs).Error()``: one message bare, several in brackets."""
    unique = []
    for err in errs:
        if err not in unique:
            unique.append(err)
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


# ---------------------------------------------------------------- requirements
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "in", "notin", "exists", "!"
GREATER_THAN, LESS_THAN = "gt", "lt"

_BINARY_OPERATORS = ["in", "notin", "=", "==", "!=", "gt", "lt"]


class Requirement:
    """One ``key op values`` term of a label selector."""

    __slots__ = ("key", "operator", "values")

    def __init__(self, key, operator, values):
        self.key = key
        self.operator = operator
        self.values = tuple(values)

    def matches(self, labels):
        has = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return has
        if self.operator == DOES_NOT_EXIST:
            return not has
        if self.operator in (GREATER_THAN, LESS_THAN):
            if not has:
                return False
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except (TypeError, ValueError):
                return False
            return have > want if self.operator == GREATER_THAN else have < want
        return False

    def __str__(self):
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = sorted(self.values) if len(self.values) > 1 else list(self.values)
        text = ",".join(values)
        if self.operator in (IN, NOT_IN):
            return "%s %s (%s)" % (self.key, self.operator, text)
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return "%s%s%s" % (self.key, symbol, text)

    def __repr__(self):
        return "Requirement(%r)" % str(self)


def _new_requirement(key, operator, values):
    """``labels.NewRequirement``: validate and build, or SelectorError with every problem."""
    errs = []
    for msg in qualified_name_errors(key):
        errs.append(_field_invalid("key", key, msg))
    if operator in (IN, NOT_IN):
        if not values:
            errs.append(_field_invalid("values", values,
                                       "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            errs.append(_field_invalid("values", values,
                                       "exact-match compatibility requires one single value"))
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if values:
            errs.append(_field_invalid("values", values,
                                       "values set must be empty for exists and does not exist"))
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(_field_invalid("values", values,
                                       "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, value in enumerate(values):
            if not re.match(r"^[+-]?[0-9]+$", value):
                errs.append(_field_invalid("values[%d]" % i, value,
                                           "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, value in enumerate(values):
        for msg in label_value_errors(value):
            errs.append(_field_invalid("values[%d][%s]" % (i, key), value, msg))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, operator, values)


# ---------------------------------------------------------------- label selector
class LabelSelector:
    """A parsed label selector: the AND of its requirements.

    ``nothing`` selectors (from a nil metav1.LabelSelector) match no object at all.
    """

    def __init__(self, requirements=(), nothing=False):
        # Sorted by key (stable), as labels.Parse and Selector.Add do, for a canonical text form.
        self.requirements = tuple(sorted(requirements, key=lambda r: r.key))
        self.nothing = nothing

    @property
    def empty(self):
        """True when the selector does not restrict anything (matches every object)."""
        return not self.nothing and not self.requirements

    def matches(self, labels):
        if self.nothing:
            return False
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)

    def requires_exact_match(self, key):
        """The single value ``key`` must have to match, or None (like RequiresExactMatch)."""
        for req in self.requirements:
            if req.key == key:
                if req.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def __str__(self):
        return ",".join(str(req) for req in self.requirements)

    def __repr__(self):
        if self.nothing:
            return "LabelSelector(<nothing>)"
        return "LabelSelector(%r)" % str(self)

    def __eq__(self, other):
        return (isinstance(other, LabelSelector) and self.nothing == other.nothing
                and str(self) == str(other))

    def __hash__(self):
        return hash((self.nothing, str(self)))


# Tokens of the label selector lexer.
_T_ERROR, _T_END, _T_CLOSE, _T_COMMA, _T_NOT, _T_DEQ, _T_EQ, _T_GT, _T_ID, _T_IN, _T_LT, \
    _T_NEQ, _T_NOTIN, _T_OPEN = range(14)

_LITERAL_TOKENS = {
    ")": _T_CLOSE, ",": _T_COMMA, "!": _T_NOT, "==": _T_DEQ, "=": _T_EQ, ">": _T_GT,
    "in": _T_IN, "<": _T_LT, "!=": _T_NEQ, "notin": _T_NOTIN, "(": _T_OPEN,
}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(text):
    """Split selector text into (token, literal) pairs, ending with _T_END."""
    items = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            items.append((_T_END, ""))
            return items
        if text[pos] in _SPECIAL:
            # Longest run of special symbols that still forms a known operator.
            buf, last = "", None
            while pos < n and text[pos] in _SPECIAL:
                candidate = buf + text[pos]
                if candidate in _LITERAL_TOKENS:
                    buf, last = candidate, (_LITERAL_TOKENS[candidate], candidate)
                    pos += 1
                elif last is not None:
                    break
                else:
                    buf = candidate
                    pos += 1
            if last is None:
                items.append((_T_ERROR, "error expected: keyword found '%s'" % buf))
            else:
                items.append(last)
        else:
            start = pos
            while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            word = text[start:pos]
            items.append((_LITERAL_TOKENS.get(word, _T_ID), word))


class _LabelParser:
    """The recursive-descent parser of k8s.io/apimachinery/pkg/labels, error texts included."""

    def __init__(self, text):
        self.items = _lex(text)
        self.pos = 0

    def _peek(self, values=True):
        tok, lit = self.items[self.pos]
        if values and tok in (_T_IN, _T_NOTIN):
            tok = _T_ID  # 'in' and 'notin' are ordinary words where values are expected
        return tok, lit

    def _next(self, values=True):
        item = self._peek(values)
        self.pos += 1
        return item

    def parse(self):
        requirements = []
        while True:
            tok, lit = self._peek()
            if tok in (_T_ID, _T_NOT):
                try:
                    requirements.append(self._requirement())
                except SelectorError as err:
                    raise SelectorError("unable to parse requirement: %s" % err) from None
                tok, lit = self._next()
                if tok == _T_END:
                    return requirements
                if tok == _T_COMMA:
                    tok2, lit2 = self._peek()
                    if tok2 not in (_T_ID, _T_NOT):
                        raise SelectorError("found '%s', expected: identifier after ','" % lit2)
                    continue
                raise SelectorError("found '%s', expected: ',' or 'end of string'" % lit)
            if tok == _T_END:
                return requirements
            raise SelectorError("found '%s', expected: !, identifier, or 'end of string'" % lit)

    def _requirement(self):
        key, operator = self._key_and_inferred_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, operator, [])
        operator = self._operator()
        if operator in (IN, NOT_IN):
            values = self._value_set()
        else:
            values = self._exact_value()
        return _new_requirement(key, operator, sorted(values))

    def _key_and_inferred_operator(self):
        operator = None
        tok, lit = self._next()
        if tok == _T_NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self._next()
        if tok != _T_ID:
            raise SelectorError("found '%s', expected: identifier" % lit)
        errs = qualified_name_errors(lit)
        if errs:
            raise SelectorError(_field_invalid("<nil>", lit, "; ".join(errs)))
        if self._peek()[0] in (_T_END, _T_COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def _operator(self):
        tok, lit = self._next(values=False)
        operators = {_T_IN: IN, _T_EQ: EQUALS, _T_DEQ: DOUBLE_EQUALS, _T_GT: GREATER_THAN,
                     _T_LT: LESS_THAN, _T_NOTIN: NOT_IN, _T_NEQ: NOT_EQUALS}
        if tok not in operators:
            raise SelectorError("found '%s', expected: %s" % (lit, ", ".join(_BINARY_OPERATORS)))
        return operators[tok]

    def _value_set(self):
        tok, lit = self._next()
        if tok != _T_OPEN:
            raise SelectorError("found '%s' expected: '('" % lit)
        tok, lit = self._peek()
        if tok in (_T_ID, _T_COMMA):
            values = self._identifiers()
            if self._next()[0] != _T_CLOSE:
                raise SelectorError("found '%s', expected: ')'" % lit)
            return values
        if tok == _T_CLOSE:
            self._next()
            return {""}
        raise SelectorError("found '%s', expected: ',', ')' or identifier" % lit)

    def _identifiers(self):
        values = set()
        while True:
            tok, lit = self._next()
            if tok == _T_ID:
                values.add(lit)
                tok2, lit2 = self._peek()
                if tok2 == _T_COMMA:
                    continue
                if tok2 == _T_CLOSE:
                    return values
                raise SelectorError("found '%s', expected: ',' or ')'" % lit2)
            if tok == _T_COMMA:
                if not values:
                    values.add("")  # "(,"
                tok2 = self._peek()[0]
                if tok2 == _T_CLOSE:
                    values.add("")  # ",)"
                    return values
                if tok2 == _T_COMMA:
                    self._next()
                    values.add("")  # ",,"
                continue
            raise SelectorError("found '%s', expected: ',', or identifier" % lit)

    def _exact_value(self):
        tok = self._peek()[0]
        if tok in (_T_END, _T_COMMA):
            return {""}  # "a=" selects the empty value
        tok, lit = self._next()
        if tok == _T_ID:
            return {lit}
        raise SelectorError("found '%s', expected: identifier" % lit)


def parse_label_selector(text):
    """Parse ``?labelSelector=`` text. Empty or None selects everything."""
    if text is None:
        return LabelSelector()
    if not isinstance(text, str):
        raise SelectorError("label selector must be a string, got %r" % (text,))
    return LabelSelector(_LabelParser(text).parse())


_METAV1_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def selector_from_label_selector(obj):
    """``metav1.LabelSelectorAsSelector``: nil matches nothing, {} matches everything."""
    if obj is None:
        return LabelSelector(nothing=True)
    if not isinstance(obj, dict):
        raise SelectorError("a label selector must be an object, got %r" % (obj,))
    match_labels = obj.get("matchLabels") or {}
    match_expressions = obj.get("matchExpressions") or []
    if not match_labels and not match_expressions:
        return LabelSelector()
    requirements = []
    for key, value in match_labels.items():
        requirements.append(_new_requirement(str(key), EQUALS, [_label_text(value)]))
    for expr in match_expressions:
        if not isinstance(expr, dict):
            raise SelectorError("a matchExpressions entry must be an object, got %r" % (expr,))
        operator = _METAV1_OPERATORS.get(expr.get("operator"))
        if operator is None:
            raise SelectorError("%s is not a valid label selector operator"
                                % _go_quote(str(expr.get("operator", ""))))
        values = [_label_text(v) for v in (expr.get("values") or [])]
        requirements.append(_new_requirement(str(expr.get("key", "")), operator, values))
    return LabelSelector(requirements)


def selector_from_map(d):
    """``labels.SelectorFromSet`` for a Service's ``spec.selector``: None or {} -> everything."""
    if not d:
        return LabelSelector()
    return LabelSelector(Requirement(str(k), EQUALS, [_label_text(v)]) for k, v in d.items())


def _label_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- field selectors
def _text(value):
    return "" if value is None else str(value)


def _go_bool(value):
    return "true" if value is True else "false"


def _go_int(value):
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _get(obj, *path):
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _pod_ip(obj):
    ips = _get(obj, "status", "podIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], dict) and ips[0].get("ip"):
        return ips[0]["ip"]
    return _text(_get(obj, "status", "podIP"))


def _event_source(obj):
    # The registry falls back to reportingController when source.component is empty.
    return _text(_get(obj, "source", "component")) or _text(obj.get("reportingComponent"))


_COMMON_FIELDS = {
    "metadata.name": lambda o: _text(_get(o, "metadata", "name")),
    "metadata.namespace": lambda o: _text(_get(o, "metadata", "namespace")),
}


def _string_field(*path):
    return lambda o: _text(_get(o, *path))


_RESOURCE_FIELDS = {
    "pods": {
        "spec.nodeName": _string_field("spec", "nodeName"),
        "spec.restartPolicy": _string_field("spec", "restartPolicy"),
        "spec.schedulerName": _string_field("spec", "schedulerName"),
        "spec.serviceAccountName": _string_field("spec", "serviceAccountName"),
        "spec.hostNetwork": lambda o: _go_bool(_get(o, "spec", "hostNetwork")),
        "status.phase": _string_field("status", "phase"),
        "status.podIP": _pod_ip,
        "status.nominatedNodeName": _string_field("status", "nominatedNodeName"),
    },
    "events": {
        "involvedObject.kind": _string_field("involvedObject", "kind"),
        "involvedObject.namespace": _string_field("involvedObject", "namespace"),
        "involvedObject.name": _string_field("involvedObject", "name"),
        "involvedObject.uid": _string_field("involvedObject", "uid"),
        "involvedObject.apiVersion": _string_field("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _string_field("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _string_field("involvedObject", "fieldPath"),
        "reason": _string_field("reason"),
        "reportingComponent": _string_field("reportingComponent"),
        "source": _event_source,
        "type": _string_field("type"),
    },
    "secrets": {"type": _string_field("type")},
    # Go renders these typed fields with strconv, so a missing value reads "0" / "false".
    "replicasets": {"status.replicas": lambda o: _go_int(_get(o, "status", "replicas"))},
    "nodes": {"spec.unschedulable": lambda o: _go_bool(_get(o, "spec", "unschedulable"))},
    "namespaces": {"status.phase": _string_field("status", "phase")},
}


class FieldTerm:
    __slots__ = ("field", "operator", "value", "_get")

    def __init__(self, field, operator, value, getter):
        self.field = field
        self.operator = operator
        self.value = value
        self._get = getter

    def matches(self, obj):
        equal = self._get(obj) == self.value
        return equal if self.operator != NOT_EQUALS else not equal

    def __str__(self):
        return "%s%s%s" % (self.field, self.operator, _escape_field_value(self.value))


class FieldSelector:
    """A parsed field selector: the AND of ``field=value`` / ``field!=value`` terms."""

    def __init__(self, terms=()):
        self.terms = tuple(terms)

    @property
    def empty(self):
        return not self.terms

    def matches(self, obj):
        return all(term.matches(obj) for term in self.terms)

    def requires_exact_match(self, field):
        for term in self.terms:
            if term.field == field and term.operator in (EQUALS, DOUBLE_EQUALS):
                return term.value
        return None

    def __str__(self):
        return ",".join(str(term) for term in self.terms)

    def __repr__(self):
        return "FieldSelector(%r)" % str(self)


def _split_unescaped(text, sep):
    """Split on ``sep`` where it is not preceded by an escaping backslash."""
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _split_term(term):
    """``fields.splitTerm``: the first !=, == or = splits field from value."""
    for i in range(len(term)):
        for op in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape_field_value(value):
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise SelectorError("invalid field selector: invalid escape sequence: %s"
                                    % value[i:i + 2])
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise SelectorError("invalid field selector: unescaped character in value: %s"
                                % _go_quote(ch).replace('"', "'"))
        out.append(ch)
        i += 1
    return "".join(out)


def _escape_field_value(value):
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def supported_fields(resource):
    """The field names ``resource`` can be selected by."""
    fields = dict(_COMMON_FIELDS)
    fields.update(_RESOURCE_FIELDS.get(resource, {}))
    return fields


def parse_field_selector(text, resource):
    """Parse ``?fieldSelector=`` text for ``resource`` (a plural name). Empty selects all."""
    if text is None:
        return FieldSelector()
    if not isinstance(text, str):
        raise SelectorError("field selector must be a string, got %r" % (text,))
    fields = supported_fields(resource)
    terms = []
    for part in sorted(_split_unescaped(text, ",")):
        if not part.strip():
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (text, part))
        name, op, raw_value = split
        name = name.strip()
        value = _unescape_field_value(raw_value.strip())
        getter = fields.get(name)
        if getter is None:
            raise SelectorError("field label not supported: %s" % name)
        terms.append(FieldTerm(name, op, value, getter))
    return FieldSelector(terms)
