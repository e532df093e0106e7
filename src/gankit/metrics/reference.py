"""Reference classifiers for MNIST and Fashion-MNIST: the fixed recipe that trains them and the
shipped weights that every user loads.

The weights live in ``gankit/metrics/weights/<dataset>-classifier.safetensors`` next to a JSON
record of the recipe, the test accuracy it reached and the file's SHA-256; loading checks the hash,
so a score computed with these features names exactly one feature space. Re-create them with
``gankit classifier mnist`` (or ``python -m gankit.metrics.reference mnist``); the recipe is fully
seeded and uses deterministic algorithms, so the same machine and thread count reproduce the same
weights bit for bit.

Recipe (both datasets): the whole 60k training split, Adam (lr 2e-3, weight decay 5e-4 on conv/linear
weights), batch 128, one-cycle cosine schedule, label smoothing 0.05, random translations of up to
2 pixels (Fashion-MNIST also horizontal flips), seed 0; evaluated once on the 10k test split.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from ..errors import GankitError
from ..io import atomic_write_bytes, atomic_write_text
from ..models.classifier import ReferenceClassifier

__all__ = ["RECIPES", "WEIGHTS_DIR", "load_reference_classifier", "train_reference_classifier",
           "reference_record", "file_sha256"]

WEIGHTS_DIR = Path(__file__).with_name("weights")

#: dataset -> training recipe. Changing a recipe means re-training and re-shipping its weights.
RECIPES = {
    "mnist": dict(epochs=6, batch_size=128, lr=2e-3, weight_decay=5e-4, label_smoothing=0.05, shift=2,
                  hflip=False, seed=0, width=32, hidden=128, dropout=0.3),
    "fashion-mnist": dict(epochs=12, batch_size=128, lr=2e-3, weight_decay=5e-4, label_smoothing=0.05, shift=2,
                          hflip=True, seed=0, width=32, hidden=128, dropout=0.3),
    # the domain classifier of the multi-domain set (gankit.data.attributes): 5 binary attributes of RGB digits,
    # trained with a sigmoid cross-entropy per attribute; its accuracy is the share of test images whose five
    # attributes are all right
    # it reads the set at 32 x 32 (the translators' resolution) resized to its 28 x 28 input, as the metrics do
    "mnist-attributes": dict(epochs=3, batch_size=128, lr=2e-3, weight_decay=5e-4, label_smoothing=0.0, shift=2,
                             hflip=False, seed=0, width=32, hidden=128, dropout=0.3, channels=3, outputs=5,
                             multilabel=True, resolution=32),
}
#: test accuracy a shipped classifier must reach (issue 4 of the project; the attribute classifier: issue 13).
REQUIRED_ACCURACY = {"mnist": 0.993, "fashion-mnist": 0.915, "mnist-attributes": 0.97}


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _weights_path(dataset: str, weights_dir=None) -> Path:
    return Path(weights_dir or WEIGHTS_DIR) / f"{dataset}-classifier.safetensors"


def _check_dataset(dataset: str) -> None:
    if dataset not in RECIPES:
        from ..registry import nearest

        raise GankitError(f"no reference classifier for dataset '{dataset}'"
                          f"{nearest(dataset, list(RECIPES))}; available: {', '.join(RECIPES)}")


def reference_record(dataset: str, weights_dir=None) -> dict:
    """The JSON record shipped with a classifier (recipe, accuracy, sha256)."""
    _check_dataset(dataset)
    path = _weights_path(dataset, weights_dir).with_suffix(".json")
    if not path.is_file():
        raise GankitError(f"reference classifier for '{dataset}' is missing ({path}); "
                          f"train it with `gankit classifier {dataset}`")
    return json.loads(path.read_text())


def load_reference_classifier(dataset: str, device="cpu", weights_dir=None) -> ReferenceClassifier:
    """The shipped classifier for ``dataset`` in eval mode; its SHA-256 is checked against its record."""
    from safetensors.torch import load_file

    record = reference_record(dataset, weights_dir)
    path = _weights_path(dataset, weights_dir)
    if not path.is_file():
        raise GankitError(f"reference classifier weights missing: {path}")
    digest = file_sha256(path)
    if digest != record["sha256"]:
        raise GankitError(f"reference classifier '{path}' does not match its record "
                          f"(sha256 {digest[:12]}… vs {record['sha256'][:12]}…); reinstall gankit")
    r = record["recipe"]
    net = _net(r)
    net.load_state_dict(load_file(str(path)))
    net.sha256 = digest
    return net.to(device).eval()


def _net(recipe: dict) -> ReferenceClassifier:
    return ReferenceClassifier(num_classes=recipe.get("outputs", 10), width=recipe["width"], hidden=recipe["hidden"],
                               channels=recipe.get("channels", 1), dropout=recipe["dropout"])


def to_input(x: torch.Tensor) -> torch.Tensor:
    """Images as a reference classifier reads them: quantised to 8 bits, resized to 28 x 28 (antialiased bilinear)
    when they are another size (the feature extractors do the same)."""
    from .features import quantize_8bit

    x = quantize_8bit(x)
    if x.shape[-2:] != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True)
    return x


def _targets(y: torch.Tensor, recipe: dict) -> torch.Tensor:
    """What the classifier predicts: the class, or (multi-label) the attribute vector after it."""
    return y[:, 1:].float() if recipe.get("multilabel") else y


def _augment(x: torch.Tensor, shift: int, hflip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random translations by up to ``shift`` pixels (background -1 fills in), optional flips; batched."""
    n, c, h, w = x.shape
    if hflip:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if shift:
        padded = F.pad(x, (shift,) * 4, value=-1.0)
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, c, h, w + 2 * shift)
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, c, h, w)
        x = padded.gather(2, rows).gather(3, cols)
    return x


@torch.no_grad()
def accuracy(net, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of right predictions: the argmax class, or (float multi-label targets) all attributes right."""
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        logits, target = net(x[i:i + batch_size]), y[i:i + batch_size]
        if target.dim() == 2:
            correct += ((logits > 0).float() == target).all(1).sum().item()
        else:
            correct += (logits.argmax(1) == target).sum().item()
    return correct / len(x)


def train_reference_classifier(dataset: str, root: Optional[str] = None, weights_dir=None,
                               epochs: Optional[int] = None, progress: bool = True,
                               overwrite: bool = False, train_size: Optional[int] = None,
                               threads: Optional[int] = None) -> dict:
    """Train ``dataset``'s reference classifier with its fixed recipe; write weights + record.

    Returns the record (recipe, test accuracy, sha256, seconds). ``epochs`` overrides the recipe
    and ``train_size`` trains on the first images only (both for quick tests; the record says so).
    ``threads`` sets torch's thread count first: the bytes depend on it (the record keeps it).
    """
    from safetensors.torch import save
    from ..data import load_dataset

    _check_dataset(dataset)
    if threads is not None:
        if threads < 1:
            raise GankitError(f"--threads must be ≥ 1, got {threads}")
        torch.set_num_threads(threads)
    recipe = dict(RECIPES[dataset])
    if epochs is not None:
        recipe["epochs"] = int(epochs)
    out = _weights_path(dataset, weights_dir)
    if out.exists() and not overwrite:
        raise GankitError(f"'{out}' already exists; pass --overwrite to replace it")
    if train_size is not None:
        recipe["train_size"] = int(train_size)
    res = recipe.get("resolution", 28)
    x, y, _ = load_dataset(dataset, root=root, split="train", size=train_size, resolution=res)
    xt, yt, _ = load_dataset(dataset, root=root, split="test", resolution=res)
    if res != 28:  # read as the metrics read it: quantised and resized to the 28 x 28 input
        x, xt = to_input(x), to_input(xt)
    y, yt = _targets(y, recipe), _targets(yt, recipe)
    torch.manual_seed(recipe["seed"])
    gen = torch.Generator().manual_seed(recipe["seed"])
    net = _net(recipe)
    decay = [p for n, p in net.named_parameters() if p.dim() > 1]
    other = [p for n, p in net.named_parameters() if p.dim() <= 1]
    opt = torch.optim.Adam([{"params": decay, "weight_decay": recipe["weight_decay"]},
                            {"params": other, "weight_decay": 0.0}], lr=recipe["lr"])
    bs = recipe["batch_size"]
    steps_per_epoch = max(1, len(x) // bs)
    total = recipe["epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe["lr"], total_steps=total, pct_start=0.15)
    start = time.perf_counter()
    det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for epoch in range(recipe["epochs"]):
            net.train()
            perm = torch.randperm(len(x), generator=gen)
            running = 0.0
            for i in range(steps_per_epoch):
                idx = perm[i * bs:(i + 1) * bs]
                xb = _augment(x[idx], recipe["shift"], recipe["hflip"], gen)
                if recipe.get("multilabel"):
                    loss = F.binary_cross_entropy_with_logits(net(xb), y[idx])
                else:
                    loss = F.cross_entropy(net(xb), y[idx], label_smoothing=recipe["label_smoothing"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                running += loss.item() if (i % 50 == 0) else 0.0
            if progress:
                acc = accuracy(net, xt, yt)
                print(f"[{dataset}] epoch {epoch + 1}/{recipe['epochs']} test accuracy {acc:.4f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    finally:
        torch.use_deterministic_algorithms(det)
    acc = accuracy(net, xt, yt)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    blob = save(state, metadata={"dataset": dataset, "gankit_recipe": json.dumps(recipe, sort_keys=True)})
    atomic_write_bytes(out, blob)
    record = {
        "dataset": dataset,
        "architecture": "ReferenceClassifier (gankit.models.classifier)",
        "input": f"(N, {recipe.get('channels', 1)}, 28, 28) in [-1, 1]",
        "outputs": "five attribute logits (sigmoid)" if recipe.get("multilabel") else "ten class logits",
        "features": f"penultimate layer, {recipe['hidden']}-d after ReLU",
        "recipe": recipe,
        "test_accuracy": acc,
        "required_accuracy": REQUIRED_ACCURACY[dataset],
        "sha256": hashlib.sha256(blob).hexdigest(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_seconds": round(time.perf_counter() - start, 1),
        "command": f"gankit classifier {dataset} --threads {torch.get_num_threads()}"
                   + (f" --epochs {epochs}" if epochs is not None else ""),
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":  # python -m gankit.metrics.reference mnist
    import argparse

    p = argparse.ArgumentParser(description="train a reference classifier with its fixed recipe")
    p.add_argument("dataset", choices=sorted(RECIPES))
    p.add_argument("--data-root", default=None)
    p.add_argument("--out-dir", default=None, help="directory for the weights (default: the package's)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    rec = train_reference_classifier(a.dataset, a.data_root, a.out_dir, a.epochs, overwrite=a.overwrite,
                                     threads=a.threads)
    print(json.dumps(rec, indent=2))
