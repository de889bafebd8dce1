"""Typed params.yaml sections of the data stages: ``data`` (prepare) and ``validate``; read through
:mod:`mobileiqa.config`. Plain dataclasses (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobileiqa.preprocess import MIN_SIDE


@dataclass(frozen=True)
class BuildConfig:
    """Everything that shapes the default dataset (``data.build``)."""

    long_side: int = 512
    max_photos: int = 1000  # a seeded choice when fewer: every photo the sources give by default
    levels_per_type: int = 1
    seed: int = 0
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    annotators: tuple[str, ...] = ("ssim", "gmsd", "ms_gmsd_c", "haarpsi", "mdsi", "dss", "vsi")
    workers: int = 2
    # phone-camera families (mobileiqa.data.phone) added to KADID's 25, levels_per_type levels each; [all] = every
    # family. Their labels use the per-annotator maps alone (KADID's per-type correction has no human cells here)
    phone_families: tuple[str, ...] = ("all",)
    # mixtures (mobileiqa.data.mixtures): the share of a photo's images that carry 2-3 distortions in camera → edit
    # → compression order, added beside its single-distortion images (n_mix = round(f * n_single / (1 - f)))
    mixture_fraction: float = 0.2
    # the share of single-distortion images (exact per photo, instead of their whole-frame version) and of mixture
    # components (a seeded draw each) applied inside a soft elliptical or rounded-rectangle region only
    regional_fraction: float = 0.1
    # how many of the available types (KADID's 25 and the phone families) each photo gets, a seeded draw per photo;
    # 0 = every type. Spreads a fixed image budget over more photos and (photo, type) pairs
    types_per_photo: int = 14

    def __post_init__(self) -> None:
        if not 1 <= self.levels_per_type <= 5:
            raise ValueError(f"data.levels_per_type must be in 1..5, got {self.levels_per_type}")
        if self.long_side < MIN_SIDE:
            raise ValueError(f"data.long_side must be >= {MIN_SIDE}, got {self.long_side}")
        if self.max_photos < 3:
            raise ValueError(f"data.max_photos must be >= 3 (one photo per split at least), got {self.max_photos}")
        if not 0 <= self.mixture_fraction <= 0.9:
            raise ValueError(f"data.build.mixture_fraction must be in [0, 0.9], got {self.mixture_fraction}")
        if not 0 <= self.regional_fraction <= 1:
            raise ValueError(f"data.build.regional_fraction must be in [0, 1], got {self.regional_fraction}")
        if self.types_per_photo < 0:
            raise ValueError(f"data.build.types_per_photo must be >= 0 (0 = every type), got {self.types_per_photo}")


@dataclass(frozen=True)
class LocalTargetsConfig:
    """Per-region quality targets of the default dataset (``data.local_targets``, :mod:`mobileiqa.data.local_targets`):
    calibrated full-reference error maps on a grid of ``stride``-pixel cells, written beside the manifest."""

    enabled: bool = True
    annotators: tuple[str, ...] = ("ssim", "gmsd")  # those with a local form, each also in data.build.annotators
    stride: int = 4  # cell size in pixels of the dataset image
    window: int = 32  # GMSD's local deviation: box side in pixels (even)
    workers: int = 2

    def __post_init__(self) -> None:
        if not self.annotators or len(set(self.annotators)) != len(self.annotators):
            raise ValueError(f"data.local_targets.annotators must be a non-empty list without repeats, got "
                             f"{list(self.annotators)}")
        if not 1 <= self.stride <= 64:
            raise ValueError(f"data.local_targets.stride must be in 1..64 pixels, got {self.stride}")
        if self.window < 4 or self.window % 2:
            raise ValueError(f"data.local_targets.window must be an even number of pixels >= 4, got {self.window}")
        if self.workers < 1:
            raise ValueError(f"data.local_targets.workers must be >= 1, got {self.workers}")


DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` section: which dataset the prepare stage produces."""

    source: str = DEFAULT_SOURCE
    root: str | None = None  # real datasets: the dataset folder in its published layout
    split_seed: int = 0  # real datasets without an official split
    options: dict = field(default_factory=dict)  # adapter options (e.g. folder_csv: csv, image_column, ...)
    build: BuildConfig = field(default_factory=BuildConfig)  # the default dataset
    local_targets: LocalTargetsConfig = field(default_factory=LocalTargetsConfig)  # its per-region targets


@dataclass(frozen=True)
class ValidateConfig:
    """The ``validate`` section: what the data validation gate requires of a prepared dataset."""

    min_width: int = MIN_SIDE
    min_height: int = MIN_SIDE
    min_images_per_split: int = 1
    decode_check: str = "all"  # "all" or "header"
