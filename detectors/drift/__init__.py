"""Drift detectors, one per module, and the table of kinds the registry builds from."""

from __future__ import annotations

from detectors.base import Detector
from detectors.drift.adwin import AdwinDetector
from detectors.drift.categorical import CategoricalDetector
from detectors.drift.category_window import CategoryWindowDetector
from detectors.drift.ddm import DDMDetector
from detectors.drift.eddm import EDDMDetector
from detectors.drift.fhddm import FHDDMDetector
from detectors.drift.hddm_a import HDDMADetector
from detectors.drift.hddm_w import HDDMWDetector
from detectors.drift.kswin import KSWINDetector
from detectors.drift.missing_rate import MissingRateDetector
from detectors.drift.page_hinkley import PageHinkleyDetector
from detectors.drift.rank_window import RankWindowDetector

DETECTOR_KINDS: dict[str, type[Detector]] = {
    cls.kind: cls
    for cls in (
        AdwinDetector,
        PageHinkleyDetector,
        KSWINDetector,
        CategoricalDetector,
        MissingRateDetector,
        DDMDetector,
        EDDMDetector,
        HDDMADetector,
        HDDMWDetector,
        FHDDMDetector,
        RankWindowDetector,
        CategoryWindowDetector,
    )
}

__all__ = [
    "DETECTOR_KINDS",
    "AdwinDetector",
    "CategoricalDetector",
    "CategoryWindowDetector",
    "DDMDetector",
    "EDDMDetector",
    "FHDDMDetector",
    "HDDMADetector",
    "HDDMWDetector",
    "KSWINDetector",
    "MissingRateDetector",
    "PageHinkleyDetector",
    "RankWindowDetector",
]
