"""Fixed feature networks for content (perceptual) losses: SRGAN's "VGG loss" and gankit's offline stand-in.

SRGAN (Ledig et al. 2016, arXiv 1609.04802, Sec. 2.2.1, Eq. 5) measures the content loss as the squared distance
between feature maps of a pretrained VGG19, "phi_5,4" (the 4th conv before the 5th max-pool, after its ReLU),
rescaled by 1/12.75. gankit ships no VGG weights and downloads nothing, so:

* :class:`VGGFeatures` -- torchvision's VGG19 layers up to conv5_4 + ReLU, loaded from a local weights file
  (torchvision's ``vgg19-dcbb9e9d.pth`` or any state dict with its ``features.*`` keys, read with
  ``weights_only=True``); images mapped from [-1, 1] to ImageNet's normalisation, grey ones repeated to RGB;
* :class:`ClassifierFeatures` -- offline: the feature maps of gankit's reference classifier (``mnist`` or
  ``fashion-mnist``) after its second conv block's last ReLU, before pooling (64 maps of 14 x 14 at its 28 x 28
  input); colour images are read as the mean of their channels. A fixed conv feature space, trained on digits
  or clothes: a stand-in for VGG on those data, not a model of natural-image perception.

Both are frozen and kept out of the GAN's state (not submodules), so checkpoints do not carry them; they move to
the input's device on first use.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

#: torchvision's VGG19 ``features`` index of conv5_4's ReLU (layers 0..35 kept)
VGG54_LAYERS = 36
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _Frozen:
    """Holds a frozen net outside the module tree; moves it to the input's device when needed."""

    def __init__(self, net: nn.Module):
        self.net = net.eval().requires_grad_(False)

    def to(self, device) -> nn.Module:
        if next(self.net.parameters()).device != device:
            self.net = self.net.to(device)
        return self.net


class ClassifierFeatures:
    """Feature maps of the reference classifier of ``dataset`` (see the module docstring)."""

    scale = 1.0

    def __init__(self, dataset: str):
        from ..metrics.reference import load_reference_classifier

        clf = load_reference_classifier(dataset)
        block2 = list(clf.body[1].children())[:-1]  # the second block without its max-pool
        self._net = _Frozen(nn.Sequential(clf.body[0], *block2))
        self.name = f"classifier-{dataset} block 2 (before pooling)"

    def __call__(self, x: Tensor) -> Tensor:
        if x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return self._net.to(x.device)(x)


class VGGFeatures:
    """VGG19's phi_5,4 from a local weights file, divided by 12.75 as in SRGAN."""

    scale = 1 / 12.75

    def __init__(self, weights: str):
        from torchvision.models import vgg19

        path = Path(weights)
        if not path.is_file():
            raise ConfigError(f"config: model.vgg_weights '{weights}' is not a file (torchvision's vgg19-dcbb9e9d.pth)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a bad file: one line
            raise ConfigError(f"config: cannot read model.vgg_weights '{weights}': {' '.join(str(e).split())[:160]}") from None
        features = vgg19().features[:VGG54_LAYERS]
        own = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        try:
            features.load_state_dict({k: v for k, v in own.items() if int(k.split(".")[0]) < VGG54_LAYERS})
        except (RuntimeError, ValueError) as e:
            raise ConfigError(f"config: model.vgg_weights '{weights}' is not a VGG19 state dict "
                              f"({' '.join(str(e).split())[:160]})") from None
        self._net = _Frozen(features)
        self.name = "vgg19 phi_5,4"

    def __call__(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        return self._net.to(x.device)(((x + 1) / 2 - mean) / std) * self.scale
