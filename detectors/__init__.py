"""Online detectors (drift, fairness), their registry and state."""

from detectors.river_compat_imports import defer_package_init

# Before any module here imports River: ``river.drift``'s __init__ would import
# scikit-learn, pandas and scipy.stats, unused (~100 MiB; detectors.river_compat_imports.py).
defer_package_init()
