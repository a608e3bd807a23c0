"""Kubernetes NetworkPolicy (`networking.k8s.io/v1`) as a conforming cluster enforces it:
may this endpoint open a connection to that one, on this port and protocol, and why.

Plain data in: the NetworkPolicy objects as rendered (dicts), the namespaces with their
labels, and the two endpoints (a `Pod` or an `External` IP). Plain data out: a `Verdict`
that names the policies that isolate each side and the rules that admit the traffic.
No I/O and no gitopsc types: this evaluates what the objects mean to the API server and
the network plugin, not what the renderer intended, so a check can compare the two.

    cluster = Cluster(policies, {"acme": {"team": "a"}})
    verdict = cluster.allowed(web, db, 5432)          # TCP unless told otherwise
    verdict.allowed, verdict.ingress.admitted_by, verdict.reason

The rules, from https://kubernetes.io/docs/concepts/services-networking/network-policies/
(its sections cited by anchor as `#...`) and the API reference
https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/
(cited as "API"), are on the functions that implement them. Where the docs leave a
choice to the network plugin, this module chooses, and says so:

- ipBlock matches any endpoint by its IP, a pod with a known IP included. The docs
  (#behavior-of-to-and-from-selectors) say ipBlock ranges "should be cluster-external
  IPs, since Pod IPs are ephemeral and unpredictable", and do not say whether a pod IP
  inside the block matches; plugins differ. Matching it is the conservative reading for
  a reachability check: an ipBlock that covers the pod network is taken to open pods.
  A pod without a known IP is never matched by an ipBlock.
- A pod's connection to itself is allowed whatever the policies say (`Verdict.loopback`):
  #what-you-can-t-do-with-network-policies-at-least-not-yet says pods cannot block
  localhost access. "Itself" means the same `Pod` (name, namespace, labels, ...); two
  replicas of one workload are two pods with different names and are evaluated normally.
- Out of scope, as in the docs: traffic to and from the pod's node and hostNetwork pods
  (#networkpolicy-and-hostnetwork-pods), Services (ask about the pod's port, which is
  what policies see, not the Service's), reply traffic of an allowed connection (always
  allowed, #the-two-sorts-of-pod-isolation), and address rewriting by load balancers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

PROTOCOLS = ("TCP", "UDP", "SCTP")
NAME_LABEL = "kubernetes.io/metadata.name"
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class InvalidPolicy(ValueError):
    """A NetworkPolicy the API server would refuse (a peer with no selector, an ipBlock
    beside a selector, endPort on a named port, ...): it never reaches a cluster, so it
    has no meaning to evaluate. The message names the policy and the field."""


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it: its namespace and labels (what selectors match), its IP
    if known (what ipBlock matches), and its named container ports, name -> (port,
    protocol), which resolve a policy's `port: http` when the pod is the destination."""

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None
    ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class External:
    """An endpoint outside the pods: only an ipBlock can match it, and no policy applies
    to it (policies select pods, #the-two-sorts-of-pod-isolation)."""

    ip: str

    def __str__(self) -> str:
        return self.ip


Endpoint = Pod | External


@dataclass(frozen=True)
class Rule:
    """One rule of one policy: `namespace/name`, `ingress` or `egress`, and its index in
    `spec.ingress` or `spec.egress`, so a report can point at the rule that opens a path."""

    policy: str
    direction: str
    index: int

    def __str__(self) -> str:
        return f"{self.policy} {self.direction}[{self.index}]"


@dataclass(frozen=True)
class Side:
    """One direction of a connection: the source's egress or the destination's ingress.
    `isolated_by` lists the policies that select the pod with this direction in their
    policyTypes (empty: not isolated, or not a pod); `admitted_by` the rules of those
    policies that admit the traffic. Policies are additive (#the-two-sorts-of-pod-isolation:
    "the union of what the applicable policies allow"), so one admitting rule is
    enough; every one of them is listed."""

    isolated_by: tuple[str, ...] = ()
    admitted_by: tuple[Rule, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.isolated_by or bool(self.admitted_by)


@dataclass(frozen=True)
class Verdict:
    """The answer: `allowed` iff the source's egress side and the destination's ingress
    side both allow (#the-two-sorts-of-pod-isolation: "both the egress policy on the
    source pod and the ingress policy on the destination pod need to allow the
    connection"), or the connection is a pod to itself (`loopback`). `reason` says it in
    one line."""

    allowed: bool
    egress: Side
    ingress: Side
    loopback: bool
    reason: str


@dataclass(frozen=True)
class _Selector:
    """A label selector (API LabelSelector): matchLabels and matchExpressions ANDed, an
    empty selector matching everything."""

    labels: tuple[tuple[str, str], ...]
    expressions: tuple[tuple[str, str, frozenset[str]], ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Set-based requirements as in
        https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/: `In`
        needs the key with one of the values; `NotIn` also matches a pod without the key;
        `Exists` and `DoesNotExist` look at the key only."""
        if any(labels.get(key) != value for key, value in self.labels):
            return False
        for key, operator, values in self.expressions:
            present = key in labels
            if operator == "In" and not (present and labels[key] in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True


@dataclass(frozen=True)
class _Block:
    cidr: _Network
    excepts: tuple[_Network, ...]

    def contains(self, endpoint: Endpoint) -> bool:
        """API IPBlock: inside `cidr` and outside every `except`. An address of the other
        IP family is outside (API IPBlock: "192.168.1.0/24" or "2001:db8::/64")."""
        if endpoint.ip is None:
            return False
        address = ipaddress.ip_address(endpoint.ip)
        return address in self.cidr and not any(address in net for net in self.excepts)


@dataclass(frozen=True)
class _Peer:
    pods: _Selector | None
    namespaces: _Selector | None
    block: _Block | None


@dataclass(frozen=True)
class _Port:
    protocol: str
    port: int | str | None
    end: int | None

    def admits(self, port: int, protocol: str, destination: Endpoint) -> bool:
        """API NetworkPolicyPort: the protocol (TCP by default) must match; no `port`
        means every port of it; a number matches it, or the range up to `endPort`
        inclusive (#targeting-a-range-of-ports); a name matches the destination pod's
        container port of that name, number and protocol (the API: "a numerical or named
        port on a pod"), so it never matches an `External` destination."""
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            named = isinstance(destination, Pod) and destination.ports.get(self.port)
            return bool(named) and tuple(named) == (port, protocol)
        return self.port <= port <= (self.end or self.port)


@dataclass(frozen=True)
class _Rule:
    ref: Rule
    peers: tuple[_Peer, ...] | None  # None: from/to empty or absent, every peer
    ports: tuple[_Port, ...] | None  # None: ports empty or absent, every port


@dataclass(frozen=True)
class _Policy:
    ref: str
    namespace: str
    selector: _Selector
    rules: Mapping[str, tuple[_Rule, ...]]  # only the directions in policyTypes


class Cluster:
    """The NetworkPolicies and namespaces of one cluster, parsed once, asked many times."""

    def __init__(
        self,
        policies: Iterable[Mapping],
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """`namespaces` maps a name to its labels; `kubernetes.io/metadata.name` is set
        to the name as the API server does (#targeting-a-namespace-by-its-name), also
        for a namespace that is not listed. Raises `InvalidPolicy`."""
        self._policies: dict[str, list[_Policy]] = {}  # by namespace: a pod sees only its own
        for policy in map(_parse_policy, policies):
            self._policies.setdefault(policy.namespace, []).append(policy)
        self._namespaces = {
            name: {**labels, NAME_LABEL: name} for name, labels in (namespaces or {}).items()
        }

    def allowed(
        self, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP"
    ) -> Verdict:
        """May `source` open a connection to `destination` on `port`/`protocol`?"""
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be a number from 1 to 65535, not {port!r}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        egress = self._side("egress", source, destination, destination, port, protocol)
        ingress = self._side("ingress", destination, source, destination, port, protocol)
        loopback = isinstance(source, Pod) and source == destination
        allowed = loopback or (egress.allowed and ingress.allowed)
        traffic = f"{source} -> {destination} {protocol}/{port}"
        if loopback:
            reason = f"allowed: {traffic} is a pod to itself, which no policy can block"
        else:
            sides = (
                _describe("egress from", source, egress),
                _describe("ingress to", destination, ingress),
            )
            reason = f"{'allowed' if allowed else 'denied'}: {traffic}; {'; '.join(sides)}"
        return Verdict(allowed, egress, ingress, loopback, reason)

    def _side(
        self,
        direction: str,
        subject: Endpoint,
        peer: Endpoint,
        destination: Endpoint,
        port: int,
        protocol: str,
    ) -> Side:
        """#the-two-sorts-of-pod-isolation: a pod is isolated for a direction iff some
        policy in its namespace selects it (an empty podSelector selects every pod there)
        with that direction in policyTypes; then only those policies' rules for that
        direction can admit the traffic. Policies elsewhere, or without the direction,
        play no part, and nothing isolates an `External` endpoint."""
        if not isinstance(subject, Pod):
            return Side()
        isolating = self._isolating(direction, subject)
        admitting = tuple(
            rule.ref
            for policy in isolating
            for rule in policy.rules[direction]
            if self._admits(rule, policy.namespace, peer, destination, port, protocol)
        )
        return Side(tuple(policy.ref for policy in isolating), admitting)

    def isolated_by(self, pod: Pod, direction: str) -> tuple[str, ...]:
        """The policies that isolate `pod` for `direction` (`ingress` or `egress`), whatever
        the traffic: empty means that direction is open to and from everything."""
        return tuple(policy.ref for policy in self._isolating(direction, pod))

    def _isolating(self, direction: str, pod: Pod) -> list[_Policy]:
        return [
            policy
            for policy in self._policies.get(pod.namespace, ())
            if direction in policy.rules and policy.selector.matches(pod.labels)
        ]

    def _admits(
        self,
        rule: _Rule,
        namespace: str,
        peer: Endpoint,
        destination: Endpoint,
        port: int,
        protocol: str,
    ) -> bool:
        """API NetworkPolicyIngressRule/EgressRule: a rule admits traffic that matches
        one of its ports AND one of its peers; an empty or missing `ports` matches every
        port, an empty or missing `from`/`to` every peer (so `ingress: [{}]` allows all,
        #allow-all-ingress-traffic). Named ports resolve against the destination pod in
        both directions: it is the one that owns the port."""
        if rule.ports is not None and not any(
            p.admits(port, protocol, destination) for p in rule.ports
        ):
            return False
        return rule.peers is None or any(self._matches(p, namespace, peer) for p in rule.peers)

    def _matches(self, peer: _Peer, namespace: str, endpoint: Endpoint) -> bool:
        """#behavior-of-to-and-from-selectors: `podSelector` alone selects pods in the
        policy's own namespace; `namespaceSelector` alone every pod in the namespaces it
        selects; both in one peer the pods matching podSelector in those namespaces (AND;
        separate peers are OR'ed by the caller). Selectors match pods only; an ipBlock
        matches by IP (see the module docstring for pods)."""
        if peer.block is not None:
            return peer.block.contains(endpoint)
        if not isinstance(endpoint, Pod):
            return False
        if peer.namespaces is None:
            in_namespace = endpoint.namespace == namespace
        else:
            labels = self._namespaces.get(endpoint.namespace, {NAME_LABEL: endpoint.namespace})
            in_namespace = peer.namespaces.matches(labels)
        return in_namespace and (peer.pods is None or peer.pods.matches(endpoint.labels))


def label_selector(selector: Mapping) -> Callable[[Mapping[str, str]], bool]:
    """A label selector as a test of labels, with the semantics policies use: for code that
    finds what a policy's selectors can match without asking about every pair of pods.
    Raises `InvalidPolicy`."""
    return _parse_selector("selector", "", selector or {}).matches


def _describe(what: str, endpoint: Endpoint, side: Side) -> str:
    if not isinstance(endpoint, Pod):
        return f"{what} {endpoint}: not a pod, no policy applies"
    if not side.isolated_by:
        return f"{what} {endpoint}: not isolated"
    if side.admitted_by:
        return f"{what} {endpoint}: admitted by {', '.join(map(str, side.admitted_by))}"
    return f"{what} {endpoint}: isolated by {', '.join(side.isolated_by)}; no rule admits it"


def _parse_policy(policy: Mapping) -> _Policy:
    """policyTypes default (API NetworkPolicySpec): when absent or empty, Ingress always,
    plus Egress iff the spec has at least one egress rule (`len(spec.Egress) != 0` in the
    API server's SetDefaults_NetworkPolicy); so an egress-only spec without policyTypes
    isolates ingress too, and `egress: []` alone adds no Egress. A direction not in
    policyTypes is ignored, its rules included. An empty rule list for a direction that
    is in policyTypes admits nothing (API: "does not allow any traffic")."""
    metadata = policy.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if policy.get("kind") != "NetworkPolicy" or policy.get("apiVersion") != "networking.k8s.io/v1":
        raise InvalidPolicy(f"{namespace}/{name}: not a networking.k8s.io/v1 NetworkPolicy")
    if not name or not namespace:
        raise InvalidPolicy(
            f"{namespace}/{name}: metadata.name and metadata.namespace are required"
        )
    ref = f"{namespace}/{name}"
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    if not set(types) <= {"Ingress", "Egress"}:
        raise InvalidPolicy(f"{ref}: spec.policyTypes: only Ingress and Egress, not {types}")
    rules = {}
    for direction in sorted({kind.lower() for kind in types}):
        entries = spec.get(direction) or []
        rules[direction] = tuple(
            _parse_rule(ref, direction, index, entry or {}) for index, entry in enumerate(entries)
        )
    selector = _parse_selector(ref, "spec.podSelector", spec.get("podSelector") or {})
    return _Policy(ref, namespace, selector, rules)


def _parse_rule(ref: str, direction: str, index: int, rule: Mapping) -> _Rule:
    path = f"spec.{direction}[{index}]"
    key = "from" if direction == "ingress" else "to"
    peers = rule.get(key) or None
    ports = rule.get("ports") or None
    return _Rule(
        Rule(ref, direction, index),
        None if peers is None else _each(peers, ref, f"{path}.{key}", _parse_peer),
        None if ports is None else _each(ports, ref, f"{path}.ports", _parse_port),
    )


def _each(items: Sequence, ref: str, path: str, parse) -> tuple:
    return tuple(parse(ref, f"{path}[{index}]", item or {}) for index, item in enumerate(items))


def _parse_peer(ref: str, path: str, peer: Mapping) -> _Peer:
    """API NetworkPolicyPeer: at least one of podSelector, namespaceSelector, ipBlock, and
    ipBlock alone. A selector present but empty (`{}`) selects all; absent (or null) it
    does not take part."""
    pods, namespaces, block = (peer.get(k) for k in ("podSelector", "namespaceSelector", "ipBlock"))
    if block is not None and (pods is not None or namespaces is not None):
        raise InvalidPolicy(f"{ref}: {path}: ipBlock may not be combined with a selector")
    if block is None and pods is None and namespaces is None:
        raise InvalidPolicy(f"{ref}: {path}: must specify a peer")
    return _Peer(
        None if pods is None else _parse_selector(ref, f"{path}.podSelector", pods),
        None
        if namespaces is None
        else _parse_selector(ref, f"{path}.namespaceSelector", namespaces),
        None if block is None else _parse_block(ref, f"{path}.ipBlock", block),
    )


def _parse_selector(ref: str, path: str, selector: Mapping) -> _Selector:
    labels = selector.get("matchLabels") or {}
    if not all(isinstance(value, str) for value in labels.values()):
        raise InvalidPolicy(f"{ref}: {path}.matchLabels: label values are strings")
    expressions = []
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        operator, values = expression.get("operator"), expression.get("values") or []
        if operator not in _OPERATORS:
            raise InvalidPolicy(f"{ref}: {path}.matchExpressions[{index}]: operator {operator!r}")
        if (operator in ("In", "NotIn")) != bool(values):
            raise InvalidPolicy(
                f"{ref}: {path}.matchExpressions[{index}]: In and NotIn take values, "
                "Exists and DoesNotExist none"
            )
        expressions.append((expression.get("key"), operator, frozenset(values)))
    return _Selector(tuple(sorted(labels.items())), tuple(expressions))


def _parse_block(ref: str, path: str, block: Mapping) -> _Block:
    """API IPBlock: `cidr`, and `except` entries that must be strict subsets of it."""
    try:
        cidr = ipaddress.ip_network(block.get("cidr"), strict=False)
        excepts = tuple(ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    except (TypeError, ValueError) as error:
        raise InvalidPolicy(f"{ref}: {path}: {error}") from None
    for net in excepts:
        if net.version != cidr.version or not net.subnet_of(cidr) or net == cidr:
            raise InvalidPolicy(f"{ref}: {path}.except: {net} is not a strict subset of {cidr}")
    return _Block(cidr, excepts)


def _parse_port(ref: str, path: str, entry: Mapping) -> _Port:
    """API NetworkPolicyPort: protocol TCP, UDP or SCTP (default TCP); port a number or a
    name (a quoted number is a name to the API, which refuses it); endPort only after a
    numeric port and not below it."""
    protocol, port, end = entry.get("protocol") or "TCP", entry.get("port"), entry.get("endPort")
    if protocol not in PROTOCOLS:
        raise InvalidPolicy(f"{ref}: {path}.protocol: {protocol!r} is not TCP, UDP or SCTP")
    if isinstance(port, str) and (not port or port.isdigit()):
        raise InvalidPolicy(f"{ref}: {path}.port: {port!r} is no port name; write a number")
    numeric = isinstance(port, int) and not isinstance(port, bool)
    if port is not None and not isinstance(port, str) and not (numeric and 1 <= port <= 65535):
        raise InvalidPolicy(f"{ref}: {path}.port: {port!r} is not from 1 to 65535")
    if end is not None and not (numeric and isinstance(end, int) and port <= end <= 65535):
        raise InvalidPolicy(f"{ref}: {path}.endPort: needs a numeric port, and port <= endPort")
    return _Port(protocol, port, end)
