"""Injectable layer choices (DESIGN principle 3)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError

NORMS = ("batch", "instance", "layer", "conditional", "conditional-linear", "virtual", "none")
ACTIVATIONS = ("relu", "lrelu", "softplus", "tanh", "none")


@dataclass(frozen=True)
class LayerFactory:
    """Makes layers with a fixed set of choices.

    ``sn``: wrap weight layers in spectral normalisation (Miyato et al. 2018, arXiv 1802.05957;
    one power iteration per forward with a persistent u). ``wn``: fully connected layers with weight
    normalisation instead, w = g v / ||v|| per output unit (Salimans & Kingma 2016, arXiv 1602.07868;
    :class:`~gankit.nn.weight_norm.WeightNormLinear`, whose g and bias are set from data by
    :func:`~gankit.nn.weight_norm.init_weight_norm_from_data`). ``norm``: normalisation layer kind;
    ``conditional`` is class-conditional batch norm (:class:`~gankit.nn.conditioning.ConditionalBatchNorm`,
    ``classes`` labels; the net must pass ``y`` to it, e.g. through a ``LabelSequential``); ``conditional-linear``
    is BigGAN's batch norm with gains and biases linear in a ``cond_dim`` vector
    (:class:`~gankit.nn.conditioning.LinearConditionalBatchNorm`, SN'd with ``sn``); ``virtual`` is
    virtual batch norm (:mod:`gankit.nn.virtual_batchnorm`; the net must be wrapped with its reference batch).
    ``act``: activation kind; ``slope`` is the LeakyReLU negative slope.
    """

    sn: bool = False
    wn: bool = False
    norm: str = "none"
    act: str = "relu"
    slope: float = 0.2
    classes: int = 0
    cond_dim: int = 0

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ConfigError(f"config: normalisation '{self.norm}' must be one of {', '.join(NORMS)}")
        if self.act not in ACTIVATIONS:
            raise ConfigError(f"config: activation '{self.act}' must be one of {', '.join(ACTIVATIONS)}")
        if self.sn and self.wn:
            raise ConfigError("config: spectral and weight normalisation are two ways of normalising the same weights; "
                              "choose one")
        if self.norm == "conditional" and self.classes < 2:
            raise ConfigError(f"config: conditional batch norm needs class labels (at least 2 classes), got {self.classes}")
        if self.norm == "conditional-linear" and self.cond_dim < 1:
            raise ConfigError(f"config: conditional-linear batch norm needs a conditioning vector, got cond_dim {self.cond_dim}")

    def _wrap(self, layer: nn.Module) -> nn.Module:
        return spectral_norm(layer) if self.sn else layer

    def _no_wn(self, what: str) -> None:
        if self.wn:
            raise ConfigError(f"config: weight normalisation is offered for fully connected layers, not {what}")

    def linear(self, cin: int, cout: int, bias: bool = True) -> nn.Module:
        if self.wn:
            from .weight_norm import WeightNormLinear

            return WeightNormLinear(cin, cout, bias=bias)
        return self._wrap(nn.Linear(cin, cout, bias=bias))

    def conv(self, cin: int, cout: int, k: int, s: int = 1, p: int = 0, bias: bool = True) -> nn.Module:
        self._no_wn("convolutions")
        return self._wrap(nn.Conv2d(cin, cout, k, s, p, bias=bias))

    def deconv(self, cin: int, cout: int, k: int, s: int = 1, p: int = 0, bias: bool = True) -> nn.Module:
        self._no_wn("convolutions")
        return self._wrap(nn.ConvTranspose2d(cin, cout, k, s, p, bias=bias))

    def embedding(self, num: int, dim: int) -> nn.Module:
        """A ``num x dim`` lookup table (e.g. class embeddings), Glorot-uniform, SN when ``sn``."""
        emb = nn.Embedding(num, dim)
        nn.init.xavier_uniform_(emb.weight)
        return self._wrap(emb)

    def norm_layer(self, channels: int, dims: int = 2) -> nn.Module:
        if self.norm == "conditional":
            from .conditioning import ConditionalBatchNorm

            return ConditionalBatchNorm(channels, self.classes, dims)
        if self.norm == "conditional-linear":
            from .conditioning import LinearConditionalBatchNorm

            return LinearConditionalBatchNorm(channels, self.cond_dim, dims, sn=self.sn)
        if self.norm == "batch":
            return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)
        if self.norm == "instance":
            return nn.InstanceNorm2d(channels, affine=True)
        if self.norm == "virtual":  # the net must then be wrapped in nn.virtual_batchnorm.WithReferenceBatch
            from .virtual_batchnorm import VirtualBatchNorm

            return VirtualBatchNorm(channels)
        if self.norm == "layer":
            return nn.GroupNorm(1, channels)
        return nn.Identity()

    def activation(self) -> nn.Module:
        if self.act == "relu":
            return nn.ReLU(inplace=True)
        if self.act == "lrelu":
            return nn.LeakyReLU(self.slope, inplace=True)
        if self.act == "softplus":
            return nn.Softplus()
        if self.act == "tanh":
            return nn.Tanh()
        return nn.Identity()


def init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2015, arXiv 1511.06434): weights ~ N(0, 0.02);
    normalisation gains ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = getattr(getattr(m, "parametrizations", None), "weight", None)
            target = w.original if w is not None else m.weight
            nn.init.normal_(target, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    from .spectral import refresh_power_iteration

    refresh_power_iteration(module)  # SN's u, v must belong to the new weights


def init_weights(module: nn.Module, scheme: str) -> None:
    """Initialise every conv / linear weight of ``module`` (the trainable tensor under spectral norm) and zero
    the biases: ``xavier`` -- Glorot-uniform (Glorot & Bengio 2010), the SNGAN ResNets' init (gain sqrt(2) on
    the 3x3 convs of the residual branches, named ``conv1``/``conv2``, 1 elsewhere, as in the authors' Chainer
    code); ``ortho`` -- orthogonal (Saxe et al. 2014), BigGAN's (Brock et al. 2018, Sec. 4: "we initialise with
    Orthogonal Initialization"). Embeddings and normalisation layers keep their own init."""
    if scheme not in ("xavier", "ortho"):
        raise ConfigError(f"config: init must be xavier or ortho, got '{scheme}'")
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = getattr(getattr(m, "parametrizations", None), "weight", None)
            target = w.original if w is not None else m.weight
            if scheme == "ortho":
                nn.init.orthogonal_(target)
            else:
                branch = name.rsplit(".", 1)[-1] in ("conv1", "conv2")
                nn.init.xavier_uniform_(target, gain=2 ** 0.5 if branch else 1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    from .spectral import refresh_power_iteration

    refresh_power_iteration(module)
