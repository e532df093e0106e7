"""A labeller pre-trained on self-supervised features, S2GAN's pre-trained approach: Lucic, Tschannen, Ritter, Zhai,
Bachem & Gelly 2019, "High-Fidelity Image Generation With Fewer Labels", arXiv 1903.02271, Sec. 3.1.

Before the GAN starts, the classifier C learns in two stages, then stays fixed:

1. *self-supervision* on every training image: C's trunk (all its layers but the last) and a 4-way rotation head
   learn to tell by how much each image was rotated (Gidaris et al. 2018, the task of :mod:`gankit.nn.rotation`);
   no label is read;
2. *a linear classifier* on the frozen trunk's features: C's last layer learns the K classes from the labelled
   images alone (the trunk in eval mode, so its batch statistics are the ones learned in stage 1).

The paper labels the unlabelled images with this classifier, or with a clustering of the same features
(``model.c_head=kmeans`` here: k-means on the trunk's features of the whole training set, each cluster given the
majority class of its labelled members, an image the class of its nearest centroid).
The rotation head is thrown away after stage 1. Both stages use the optimiser settings of group ``c``.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...nn.rotation import RotationHead, random_rotations, rotate

Batches = Callable[[], Tuple[Tensor, Tensor, Tensor]]  # () -> (x_unlabelled, x_labelled, y_labelled)


def fit(params, make_opt: Callable[[list], torch.optim.Optimizer], steps: int,
        batch_loss: Callable[[], Tuple[Tensor, Tensor, Tensor]]) -> float:
    """``steps`` updates of ``params`` on ``batch_loss() -> (loss, predictions, targets)``; returns the accuracy
    over the last 10 % of the steps (read once, at the end)."""
    opt = make_opt(list(params))
    hits, seen = torch.zeros(()), 0
    tail = max(1, steps // 10)
    for i in range(steps):
        loss, pred, target = batch_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= steps - tail:
            hits = hits + (pred == target).sum().detach().cpu()
            seen += target.shape[0]
    return float(hits) / max(seen, 1)


def learn_rotations(C: nn.Module, head: RotationHead, batches: Batches, steps: int,
                    make_opt: Callable[[list], torch.optim.Optimizer]) -> float:
    """Stage 1: ``steps`` updates of C's trunk and ``head`` on rotated unlabelled images; returns the rotation
    accuracy over the last 10 % of the steps."""
    C.train()

    def batch_loss():
        x, _, _ = batches()
        r = random_rotations(x.shape[0], x.device)
        logits = head(C.trunk(rotate(x, r))).float()
        return F.cross_entropy(logits, r), logits.argmax(1), r

    return fit(list(C.parameters()) + list(head.parameters()), make_opt, steps, batch_loss)


def last_layer(C: nn.Module) -> nn.Module:
    """C's output layer (the linear classifier on its trunk's features)."""
    return C.net[-1]


def learn_linear_classifier(C: nn.Module, batches: Batches, steps: int,
                            make_opt: Callable[[list], torch.optim.Optimizer]) -> float:
    """Stage 2: ``steps`` updates of C's last layer alone on the labelled images, the trunk frozen in eval
    mode; returns the training accuracy over the last 10 % of the steps."""
    C.eval()

    def batch_loss():
        _, x, y = batches()
        with torch.no_grad():
            h = C.trunk(x)
        logits = C.head(h).float()
        return F.cross_entropy(logits, y), logits.argmax(1), y

    return fit(last_layer(C).parameters(), make_opt, steps, batch_loss)


class ClusterLabeller(nn.Module):
    """Nearest-centroid labels from k-means clusters of features: ``forward(h)`` gives K class scores, each the
    negative squared distance to the nearest centroid of that class (``-inf`` for a class with no centroid)."""

    def __init__(self, clusters: int, dim: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("centroids", torch.zeros(clusters, dim))
        self.register_buffer("cluster_class", torch.zeros(clusters, dtype=torch.long))

    def forward(self, h: Tensor) -> Tensor:
        d = torch.cdist(h.flatten(1).float(), self.centroids).pow(2)  # (N, clusters)
        scores = torch.full((h.shape[0], self.num_classes), float("-inf"), device=h.device)
        idx = self.cluster_class.expand(h.shape[0], -1)
        return scores.scatter_reduce(1, idx, -d, reduce="amax")


def kmeans(h: Tensor, k: int, iters: int = 30, generator: torch.Generator = None) -> Tuple[Tensor, Tensor]:
    """Lloyd's k-means of the rows of ``h`` ``(N, d)`` from ``k`` distinct rows drawn by ``generator``:
    ``(centroids (k, d), assignment (N,))``. An emptied cluster keeps its centroid."""
    pick = torch.randperm(h.shape[0], generator=generator)[:k].to(h.device)
    centroids = h[pick].clone()
    for _ in range(iters):
        assign = torch.cdist(h, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, h)
        counts = torch.bincount(assign, minlength=k).to(h.dtype).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    return centroids, torch.cdist(h, centroids).argmin(1)


def fit_cluster_labeller(h_all: Tensor, h_labelled: Tensor, y_labelled: Tensor, clusters: int, num_classes: int,
                         seed: int) -> ClusterLabeller:
    """k-means with ``clusters`` centroids on ``h_all``; each centroid takes the majority class of the labelled
    features nearest to it (a centroid none of them is nearest to: the class of its nearest labelled feature)."""
    g = torch.Generator().manual_seed(seed)
    centroids, _ = kmeans(h_all.flatten(1).float(), clusters, generator=g)
    hl = h_labelled.flatten(1).float()
    near = torch.cdist(hl, centroids).argmin(1)
    votes = torch.zeros(clusters, num_classes, device=hl.device).index_put_(
        (near, y_labelled), torch.ones_like(near, dtype=torch.float), accumulate=True)
    cls = votes.argmax(1)
    empty = votes.sum(1) == 0
    if bool(empty.any()):
        cls[empty] = y_labelled[torch.cdist(centroids[empty], hl).argmin(1)]
    out = ClusterLabeller(clusters, centroids.shape[1], num_classes).to(hl.device)
    out.centroids.copy_(centroids)
    out.cluster_class.copy_(cls)
    return out


def features(C: nn.Module, xs: Iterator[Tensor]) -> Tensor:
    """C's trunk features (eval mode, no gradient) of every batch in ``xs``, concatenated."""
    C.eval()
    with torch.no_grad():
        return torch.cat([C.trunk(x).flatten(1) for x in xs])


def pretrain_labeller(C: nn.Module, factory, batches: Batches, rotation_steps: int, probe_steps: int,
                      make_opt: Callable[[list], torch.optim.Optimizer], head: str = "linear", clusters: int = 0,
                      cluster_images: Tuple[Tensor, Tensor, Tensor] = None, num_classes: int = 0,
                      seed: int = 0) -> Tuple[Dict[str, float], nn.Module]:
    """Both stages; returns ``(logs, cluster labeller or None)`` and leaves C frozen in eval mode.
    ``cluster_images``: ``(x_all, x_labelled, y_labelled)`` for ``head="kmeans"``."""
    rot = RotationHead(C.feature_dim, factory).to(next(C.parameters()).device)
    logs = {"pretrain_rot_acc": learn_rotations(C, rot, batches, rotation_steps, make_opt)}
    labeller = None
    if head == "kmeans":
        x_all, x_l, y_l = cluster_images
        chunk = 1000
        h_all = features(C, (x_all[i:i + chunk] for i in range(0, len(x_all), chunk)))
        h_l = features(C, (x_l[i:i + chunk] for i in range(0, len(x_l), chunk)))
        labeller = fit_cluster_labeller(h_all, h_l, y_l, clusters, num_classes, seed)
        logs["pretrain_cluster_acc"] = float((labeller(h_l).argmax(1) == y_l).float().mean())
    else:
        logs["pretrain_probe_acc"] = learn_linear_classifier(C, batches, probe_steps, make_opt)
    C.requires_grad_(False)
    C.eval()
    return logs, labeller
