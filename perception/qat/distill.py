"""QAT with the float model as the teacher: the INT8 twin learns the float model's answers.

Why: a live run on a CPU switches to the INT8 twin, and a user expects it to find the ball
where the float model does. Trained on the labels alone (the training's own loss, a few
hundred crops), the twin drifted from its float model instead: on the held-out badminton
rally the replay with the shipped twin scored F1 0.392 against the float model's 0.592 (it
started tracks on shoes and rackets the float model never reported), and longer QAT
shifted its scores up (best crop threshold 0.43 -> 0.63-0.77), so the product's threshold
no longer meant the same thing. Knowledge distillation (Hinton et al. 2015; for QAT e.g.
Polino et al. 2018, Mishra and Marr 2018) trains the quantized student towards the
teacher's outputs, which keeps both the answers and the score scale.

The student is the fake-quantized copy of the teacher, but RF-DETR picks its queries from
the encoder's top proposals, and 8 bits reorder them: on real crops only 7-43% of the
student's queries sat at the teacher's index (distillation per index then taught
nonsense: replays scored F1 0.144 / 0.374 against the label-only twin's 0.392). So each
crop's student queries are first paired with the teacher's (Hungarian, on box L1 plus
class-probability L1, no gradient: :func:`match_to_teacher`; the in-place loss of an
untrained student fell 0.53-3.30 -> 0.01-0.43 with it). Per crop, on the pairs:

- classes: the KL divergence of each query's class probabilities (sigmoid, as RF-DETR
  scores them) from the teacher's, summed over queries and classes (the few queries that
  see a ball carry the signal; a mean over all queries would drown them);
- boxes: the L1 distance of each query's box from the teacher's, weighted by the
  teacher's top class probability of that query, times :data:`BOX_WEIGHT` (RF-DETR's own
  box-to-class weighting).

:func:`frozen_teacher` copies the float network before ``prepare_qat``: the prepared graph
shares the network's parameters (all 11 of the test model's), so a teacher that is not a
copy is trained along with its student and stops being a fixed target.
:func:`with_teacher` runs the teacher on each crop of a batch (no gradients) and attaches
its outputs to the crop's target under :data:`TEACHER_KEY`; :func:`distilled` wraps the
task loss so that it sees the targets without that key and mixes the two: ``(1 - weight)``
x task + ``weight`` x distillation; 0 is the plain task loss, 1 the teacher alone. Measured
on the real badminton model (200 steps, lr 1e-5, replay of train_00001, F1 all / held out,
queries still compared per index): the task loss plus 1x or 4x distillation gave 0.323 /
0.424 and 0.022 / 0.000 (that twin scored players' rackets 0.8-0.95, above its teacher),
against the label-only twin's 0.392 / 0.653; the paired runs are in the README.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from perception.qat.pt2e import Batch, LossFn

TEACHER_KEY = "teacher"
"""The target key that holds the teacher's outputs on that crop."""
BOX_WEIGHT = 5.0
"""Box L1 against class KL, as RF-DETR weights its box and class losses (5 : 1)."""


def frozen_teacher(network: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``network`` in eval mode whose parameters no optimizer can change."""
    teacher = copy.deepcopy(network).eval()
    teacher.requires_grad_(False)
    return teacher


def with_teacher(
    batches: Iterable[Batch], teacher: Callable[[torch.Tensor], Any]
) -> Iterator[Batch]:
    """``batches`` with the teacher's detached outputs on each crop added to its target."""
    for images, targets in batches:
        marked = []
        with torch.no_grad():
            for index, target in enumerate(targets):
                out = teacher(images[index : index + 1])
                answer = {k: out[k].detach() for k in ("pred_logits", "pred_boxes")}
                marked.append({**target, TEACHER_KEY: answer})
        yield images, marked


def match_to_teacher(
    student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The student's ``pred_logits`` and ``pred_boxes`` reordered to pair with the teacher's.

    Each crop's queries are paired one to one at least total cost: box L1 plus the L1
    of the class probabilities (scipy's Hungarian solver; the pairing has no gradient).
    """
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415 - only when distilling

    s_boxes, s_logits = student["pred_boxes"], student["pred_logits"]
    order = []
    with torch.no_grad():
        for index in range(s_boxes.shape[0]):
            cost = torch.cdist(teacher["pred_boxes"][index], s_boxes[index], p=1)
            cost += torch.cdist(
                teacher["pred_logits"][index].sigmoid(), s_logits[index].sigmoid(), p=1
            )
            _, columns = linear_sum_assignment(cost.cpu().numpy())
            order.append(torch.as_tensor(columns, device=s_boxes.device))
    rows = torch.arange(s_boxes.shape[0], device=s_boxes.device)[:, None]
    picked = torch.stack(order)
    return {"pred_logits": s_logits[rows, picked], "pred_boxes": s_boxes[rows, picked]}


def distillation_loss(
    student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """How far the student's final queries are from the teacher's (0 when they agree).

    The queries are paired first (:func:`match_to_teacher`), so the order is free.

    Args:
        student: ``pred_logits (B, Q, C)`` and ``pred_boxes (B, Q, 4)`` of the student.
        teacher: the same of the teacher, on the same crops.

    Returns:
        Class KL summed over queries and classes plus :data:`BOX_WEIGHT` times the
        teacher-weighted box L1, averaged over the batch.
    """
    student = match_to_teacher(student, teacher)
    s_logits, t_logits = student["pred_logits"], teacher["pred_logits"]
    target = t_logits.sigmoid()
    # binary KL(p_t || p_s) per element = BCE(s, p_t) - BCE(t, p_t), the teacher's entropy
    kl = F.binary_cross_entropy_with_logits(
        s_logits, target, reduction="none"
    ) - F.binary_cross_entropy_with_logits(t_logits, target, reduction="none")
    batch = s_logits.shape[0]
    classes = kl.sum() / batch
    weights = target.max(dim=-1).values  # (B, Q): how much the teacher believes each query
    l1 = (student["pred_boxes"] - teacher["pred_boxes"]).abs().sum(dim=-1)
    boxes = (weights * l1).sum() / weights.sum().clamp_min(1e-6)
    return classes + BOX_WEIGHT * boxes


def distilled(task: LossFn, weight: float) -> LossFn:
    """``(1 - weight)`` x ``task`` (targets without the teacher's) + ``weight`` x distillation.

    Raises:
        ValueError: ``weight`` outside ``[0, 1]``.
    """
    if not 0.0 <= weight <= 1.0:
        msg = f"the distillation weight must be in [0, 1], but got {weight}"
        raise ValueError(msg)

    def loss(outputs: Mapping[str, Any], targets: list[Any]) -> torch.Tensor:
        plain = [{k: v for k, v in t.items() if k != TEACHER_KEY} for t in targets]
        if weight == 0:
            return task(outputs, plain)
        teacher = {
            key: torch.cat([t[TEACHER_KEY][key] for t in targets])
            for key in ("pred_logits", "pred_boxes")
        }
        taught = weight * distillation_loss(outputs, teacher)
        return taught if weight == 1 else (1 - weight) * task(outputs, plain) + taught

    return loss
