"""Marginal data association: which detection belongs to which (possibly absent) object.

The inputs are factors of a factor graph, as logits: ``exists_logits[i]`` for
"object ``i`` exists" and ``assign_logits[..., j, i]`` for "detection ``j`` comes from
object ``i``". An assignment to an object requires that object to exist; a
detection assigned to no object is spurious (logit 0). The outputs are the
posterior marginals, as distributions:

* ``exists_dist``: ``Bernoulli`` over each object's existence;
* ``assign_dist``: ``Categorical`` over ``num_objects + 1`` choices per detection,
  the last meaning "spurious".

Three problem shapes:

* :class:`MarginalAssignment`: one frame; an object may explain several detections.
* :class:`MarginalAssignmentSparse`: the same on a sparse set of feasible edges.
* :class:`MarginalAssignmentPersistent`: several frames of persistent objects; within
  a frame each object explains at most one detection and vice versa.

Each is solved exactly by enumeration (exponential; for small problems and tests)
or approximately by loopy belief propagation with ``bp_iters`` rounds (Williams &
Lau 2014, https://arxiv.org/abs/1209.6299; Turner et al. 2014 for the persistent
case). BP messages are kept as log-odds, so one message per edge is one number.
Logits are clamped to ``[-40, 40]`` so that ``-inf`` (forbidden) entries stay finite
and differentiable.

Example:
    >>> import torch
    >>> exists = torch.zeros(2)
    >>> assign = torch.tensor([[2.0, -40.0]])  # one detection, very likely object 0
    >>> solver = MarginalAssignment(exists, assign)
    >>> [round(p, 3) for p in solver.assign_dist.probs[0].tolist()]
    [0.787, 0.0, 0.213]
"""

from __future__ import annotations

import itertools

import torch
from torch.nn.functional import pad

from ppl.distributions import Bernoulli, Categorical
from ppl.util import warn_if_nan

__all__ = [
    "MarginalAssignment",
    "MarginalAssignmentPersistent",
    "MarginalAssignmentSparse",
    "compute_marginals",
    "compute_marginals_bp",
    "compute_marginals_persistent",
    "compute_marginals_persistent_bp",
    "compute_marginals_sparse_bp",
]

_CLAMP = 40.0


def _clamp(logits: torch.Tensor) -> torch.Tensor:
    return logits.clamp(min=-_CLAMP, max=_CLAMP)


def _check_shape(who: str, name: str, value: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tuple(value.shape) != shape:
        raise ValueError(f"{who}: expected {name} of shape {shape}, got {tuple(value.shape)}")


def _others(x: torch.Tensor, dim: int) -> torch.Tensor:
    """For each entry, the sum of the other entries along ``dim``."""
    return x.sum(dim, keepdim=True) - x


def _checked(exists: torch.Tensor, assign: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    warn_if_nan(exists, "exists")
    warn_if_nan(assign, "assign")
    return exists, assign


class MarginalAssignment:
    """Posterior marginals of a one-frame association problem (dense factors).

    Args:
        exists_logits: shape ``(num_objects,)``.
        assign_logits: shape ``(num_detections, num_objects)``.
        bp_iters: rounds of belief propagation; None for exact enumeration.

    Attributes:
        num_detections, num_objects: the problem size.
        exists_dist: ``Bernoulli`` of batch shape ``(num_objects,)``.
        assign_dist: ``Categorical`` of batch shape ``(num_detections,)`` over
            ``num_objects + 1`` values (the last: spurious).

    Raises:
        ValueError: for inconsistent shapes.
    """

    def __init__(
        self, exists_logits: torch.Tensor, assign_logits: torch.Tensor, bp_iters: int | None = None
    ) -> None:
        if exists_logits.dim() != 1 or assign_logits.dim() != 2:
            raise ValueError(
                "MarginalAssignment: expected exists_logits of shape (num_objects,) and "
                "assign_logits of shape (num_detections, num_objects), got "
                f"{tuple(exists_logits.shape)} and {tuple(assign_logits.shape)}"
            )
        self.num_detections, self.num_objects = assign_logits.shape
        _check_shape("MarginalAssignment", "exists_logits", exists_logits, (self.num_objects,))
        exists_logits, assign_logits = _clamp(exists_logits), _clamp(assign_logits)
        if bp_iters is None:
            exists, assign = compute_marginals(exists_logits, assign_logits)
        else:
            exists, assign = compute_marginals_bp(exists_logits, assign_logits, bp_iters)
        self.assign_dist = Categorical(logits=pad(assign, (0, 1), value=0.0))
        self.exists_dist = Bernoulli(logits=exists)


class MarginalAssignmentSparse:
    """:class:`MarginalAssignment` on a sparse set of feasible (detection, object) edges.

    Always solved by belief propagation.

    Args:
        num_objects, num_detections: the problem size.
        edges: a ``(2, num_edges)`` long tensor of ``(detection, object)`` pairs.
        exists_logits: shape ``(num_objects,)``.
        assign_logits: shape ``(num_edges,)``.
        bp_iters: rounds of belief propagation.

    Raises:
        ValueError: for inconsistent shapes.
    """

    def __init__(
        self,
        num_objects: int,
        num_detections: int,
        edges: torch.Tensor,
        exists_logits: torch.Tensor,
        assign_logits: torch.Tensor,
        bp_iters: int,
    ) -> None:
        if edges.dim() != 2 or edges.shape[0] != 2:
            raise ValueError(
                f"MarginalAssignmentSparse: edges must have shape (2, num_edges), got "
                f"{tuple(edges.shape)}"
            )
        _check_shape("MarginalAssignmentSparse", "exists_logits", exists_logits, (num_objects,))
        _check_shape("MarginalAssignmentSparse", "assign_logits", assign_logits, (edges.shape[1],))
        self.num_objects = num_objects
        self.num_detections = num_detections
        self.edges = edges
        exists, assign = compute_marginals_sparse_bp(
            num_objects,
            num_detections,
            edges,
            _clamp(exists_logits),
            _clamp(assign_logits),
            bp_iters,
        )
        dense = assign.new_full((num_detections, num_objects + 1), -float("inf"))
        dense[:, -1] = 0.0
        dense = dense.index_put((edges[0], edges[1]), assign)
        self.assign_dist = Categorical(logits=dense)
        self.exists_dist = Bernoulli(logits=exists)


class MarginalAssignmentPersistent:
    """Posterior marginals of a multi-frame association with persistent objects.

    Every frame has (at most) ``num_detections`` detections; pad missing ones with
    ``-inf`` assign logits. Within a frame, an object explains at most one detection.

    Args:
        exists_logits: shape ``(num_objects,)``.
        assign_logits: shape ``(num_frames, num_detections, num_objects)``.
        bp_iters: rounds of belief propagation; None for exact enumeration.
        bp_momentum: damping of BP messages, in ``[0, 1)``.

    Attributes:
        num_frames, num_detections, num_objects: the problem size.
        exists_dist: ``Bernoulli`` of batch shape ``(num_objects,)``.
        assign_dist: ``Categorical`` of batch shape ``(num_frames, num_detections)``
            over ``num_objects + 1`` values (the last: spurious).

    Raises:
        ValueError: for inconsistent shapes or a momentum outside ``[0, 1)``.
    """

    def __init__(
        self,
        exists_logits: torch.Tensor,
        assign_logits: torch.Tensor,
        bp_iters: int | None = None,
        bp_momentum: float = 0.5,
    ) -> None:
        if exists_logits.dim() != 1 or assign_logits.dim() != 3:
            raise ValueError(
                "MarginalAssignmentPersistent: expected exists_logits of shape (num_objects,) "
                "and assign_logits of shape (num_frames, num_detections, num_objects), got "
                f"{tuple(exists_logits.shape)} and {tuple(assign_logits.shape)}"
            )
        self.num_frames, self.num_detections, self.num_objects = assign_logits.shape
        _check_shape(
            "MarginalAssignmentPersistent", "exists_logits", exists_logits, (self.num_objects,)
        )
        exists_logits, assign_logits = _clamp(exists_logits), _clamp(assign_logits)
        if bp_iters is None:
            exists, assign = compute_marginals_persistent(exists_logits, assign_logits)
        else:
            exists, assign = compute_marginals_persistent_bp(
                exists_logits, assign_logits, bp_iters, bp_momentum
            )
        self.assign_dist = Categorical(logits=pad(assign, (0, 1), value=0.0))
        self.exists_dist = Bernoulli(logits=exists)


# ----------------------------------------------------------------------- one frame
def _all_existence_patterns(num_objects: int, like: torch.Tensor) -> torch.Tensor:
    """All ``2**num_objects`` 0/1 rows, shape ``(2**n, n)``, on ``like``'s dtype/device."""
    rows = list(itertools.product((0.0, 1.0), repeat=num_objects))
    return like.new_tensor(rows).reshape(len(rows), num_objects)


def compute_marginals(
    exists_logits: torch.Tensor, assign_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact one-frame marginals (see :class:`MarginalAssignment`); cost ``O(2**objects)``.

    Given which objects exist, detections are independent: each picks an existing
    object or "spurious". So the partition function is a sum over the ``2**n``
    existence patterns of ``exp(exists . x) * prod_j (1 + sum_{i exists} exp(A[j, i]))``.

    Returns:
        ``(exists, assign)``: posterior existence logits ``(num_objects,)`` and
        assignment logits relative to "spurious", ``(num_detections, num_objects)``.
    """
    num_detections, num_objects = assign_logits.shape
    patterns = _all_existence_patterns(num_objects, exists_logits)  # (C, n)
    forbidden = torch.finfo(assign_logits.dtype).min
    # choice logits per pattern, detection and object (+ spurious at the end)
    choice = torch.where(patterns.unsqueeze(1) > 0, assign_logits, forbidden)  # (C, D, n)
    choice = pad(choice, (0, 1), value=0.0)
    per_detection = choice.logsumexp(-1)  # (C, D)
    log_weight = patterns @ exists_logits + per_detection.sum(-1)  # (C,)
    log_z = log_weight.logsumexp(0)
    pattern_prob = (log_weight - log_z).exp()  # (C,)
    p_exists = pattern_prob @ patterns  # (n,)
    choice_prob = (choice - per_detection.unsqueeze(-1)).exp()  # (C, D, n + 1)
    p_assign = torch.einsum("c,cdk->dk", pattern_prob, choice_prob)
    exists = p_exists.log() - (1 - p_exists).log()
    assign = p_assign[:, :-1].log() - p_assign[:, -1:].log()
    return _checked(exists, assign)


def compute_marginals_bp(
    exists_logits: torch.Tensor, assign_logits: torch.Tensor, bp_iters: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-frame marginals by loopy belief propagation (see :class:`MarginalAssignment`).

    Per edge ``(j, i)`` two log-odds messages flow: from object ``i`` to detection ``j``
    (how plausible "``j`` comes from ``i``" is given ``i``'s other evidence) and back
    (how much detection ``j`` supports ``i`` existing).
    """
    to_detection = torch.zeros_like(assign_logits)
    to_object = torch.zeros_like(assign_logits)
    for step in range(bp_iters):
        to_detection = _object_to_detection(exists_logits + _others(to_object, 0))
        odds = (assign_logits + to_detection).exp()
        to_object = _detection_to_object(assign_logits, _others(odds, 1))
        warn_if_nan(to_detection, f"object-to-detection messages, iteration {step}")
        warn_if_nan(to_object, f"detection-to-object messages, iteration {step}")
    return _checked(exists_logits + to_object.sum(0), assign_logits + to_detection)


def _object_to_detection(exists_evidence: torch.Tensor) -> torch.Tensor:
    """log P(object exists | its other evidence) = log sigmoid(evidence)."""
    return -torch.log1p((-exists_evidence).exp())


def _detection_to_object(assign_logits: torch.Tensor, other_odds: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(A) / (1 + odds of the detection's other choices))."""
    return torch.log1p((assign_logits - torch.log1p(other_odds)).exp())


def compute_marginals_sparse_bp(
    num_objects: int,
    num_detections: int,
    edges: torch.Tensor,
    exists_logits: torch.Tensor,
    assign_logits: torch.Tensor,
    bp_iters: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`compute_marginals_bp` on the edges ``(2, E)`` of a sparse problem."""
    detection_of, object_of = edges[0], edges[1]

    def per_object(x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(num_objects).index_add(0, object_of, x)

    def per_detection(x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(num_detections).index_add(0, detection_of, x)

    to_detection = torch.zeros_like(assign_logits)
    to_object = torch.zeros_like(assign_logits)
    edge_exists = exists_logits[object_of]
    for step in range(bp_iters):
        others_to_object = per_object(to_object)[object_of] - to_object
        to_detection = _object_to_detection(edge_exists + others_to_object)
        odds = (assign_logits + to_detection).exp()
        other_odds = per_detection(odds)[detection_of] - odds
        to_object = _detection_to_object(assign_logits, other_odds)
        warn_if_nan(to_detection, f"object-to-detection messages, iteration {step}")
        warn_if_nan(to_object, f"detection-to-object messages, iteration {step}")
    return _checked(exists_logits + per_object(to_object), assign_logits + to_detection)


# ----------------------------------------------------------------------- persistent
def _frame_matchings(
    frame_logits: torch.Tensor, alive: tuple[int, ...]
) -> list[tuple[tuple[tuple[int, int], ...], torch.Tensor]]:
    """Every partial one-to-one matching of detections to ``alive`` objects in one frame,
    with its log-weight: ``[(((j, i), ...), log_weight), ...]``."""
    num_detections = frame_logits.shape[0]
    out = []
    zero = frame_logits.new_zeros(())

    def extend(j: int, used: frozenset, pairs: tuple, log_w: torch.Tensor) -> None:
        if j == num_detections:
            out.append((pairs, log_w))
            return
        extend(j + 1, used, pairs, log_w)  # detection j is spurious
        for i in alive:
            if i not in used:
                extend(j + 1, used | {i}, pairs + ((j, i),), log_w + frame_logits[j, i])

    extend(0, frozenset(), (), zero)
    return out


def compute_marginals_persistent(
    exists_logits: torch.Tensor, assign_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact multi-frame marginals (see :class:`MarginalAssignmentPersistent`).

    Enumerates existence patterns and, frame by frame (frames are independent given
    existence), all partial matchings; exponential, for small problems and tests.
    """
    num_frames, num_detections, num_objects = assign_logits.shape
    pattern_terms = []  # per pattern: (alive, log weight)
    exists_terms: list[list[torch.Tensor]] = [[] for _ in range(num_objects)]
    assign_terms: dict[tuple[int, int, int], list[torch.Tensor]] = {}
    for pattern in itertools.product((False, True), repeat=num_objects):
        alive = tuple(i for i, e in enumerate(pattern) if e)
        log_prior = exists_logits.new_zeros(()) + sum(
            (exists_logits[i] for i in alive), exists_logits.new_zeros(())
        )
        frames = [_frame_matchings(assign_logits[t], alive) for t in range(num_frames)]
        frame_log_z = [torch.stack([w for _, w in m]).logsumexp(0) for m in frames]
        log_weight = log_prior + sum(frame_log_z, exists_logits.new_zeros(()))
        pattern_terms.append(log_weight)
        for i in alive:
            exists_terms[i].append(log_weight)
        for t, matchings in enumerate(frames):
            rest = log_weight - frame_log_z[t]
            for pairs, log_w in matchings:
                for j, i in pairs:
                    assign_terms.setdefault((t, j, i), []).append(rest + log_w)
    log_total = torch.stack(pattern_terms).logsumexp(0)
    neg_inf = exists_logits.new_tensor(-float("inf"))

    def log_sum(terms: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(terms).logsumexp(0) if terms else neg_inf

    log_p_exists = torch.stack([log_sum(terms) for terms in exists_terms]) - log_total
    log_p_assign = (
        torch.stack(
            [
                log_sum(assign_terms.get((t, j, i), []))
                for t in range(num_frames)
                for j in range(num_detections)
                for i in range(num_objects)
            ]
        ).reshape(num_frames, num_detections, num_objects)
        - log_total
    )
    p_spurious = 1 - log_p_assign.exp().sum(-1, keepdim=True)
    exists = log_p_exists - torch.log1p(-log_p_exists.exp())
    assign = log_p_assign - p_spurious.log()
    return _checked(exists, assign)


def compute_marginals_persistent_bp(
    exists_logits: torch.Tensor,
    assign_logits: torch.Tensor,
    bp_iters: int,
    bp_momentum: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-frame marginals by damped loopy belief propagation.

    Three kinds of variables exchange log-odds messages: ``a[t, j]`` (the object of
    detection ``j``), ``b[t, i]`` (the detection of object ``i``; ``a`` and ``b`` must
    agree, which makes the matching one-to-one) and ``e[i]`` (existence; ``b[t, i]``
    can pick a detection only if ``e[i]``). Each update is blended with the previous
    message: ``new = momentum * old + (1 - momentum) * update``.

    Raises:
        ValueError: if ``bp_momentum`` is not in ``[0, 1)``.
    """
    if not 0 <= bp_momentum < 1:
        raise ValueError(f"bp_momentum must be in [0, 1), got {bp_momentum}")
    keep, take = bp_momentum, 1 - bp_momentum
    num_frames, num_detections, num_objects = assign_logits.shape
    b_to_a = torch.zeros_like(assign_logits)  # (T, D, n): log-odds of a[t,j] = i
    a_to_b = torch.zeros_like(assign_logits)  # (T, D, n): log-odds of b[t,i] = j
    b_to_e = assign_logits.new_zeros(num_frames, num_objects)
    e_to_b = assign_logits.new_zeros(num_frames, num_objects)
    for step in range(bp_iters):
        odds_a = (assign_logits + b_to_a).exp()
        a_to_b = keep * a_to_b + take * (assign_logits - torch.log1p(_others(odds_a, 2)))
        b_to_e = keep * b_to_e + take * torch.log1p(a_to_b.exp().sum(1))
        e_to_b = keep * e_to_b + take * (exists_logits + _others(b_to_e, 0))
        odds_b = a_to_b.exp()
        not_alive = (-e_to_b).exp().unsqueeze(1)
        b_to_a = keep * b_to_a - take * (not_alive + 1 + _others(odds_b, 1)).log()
        for name, message in (
            ("a_to_b", a_to_b),
            ("b_to_e", b_to_e),
            ("e_to_b", e_to_b),
            ("b_to_a", b_to_a),
        ):
            warn_if_nan(message, f"{name} messages, iteration {step}")
    return _checked(exists_logits + b_to_e.sum(0), assign_logits + b_to_a)
