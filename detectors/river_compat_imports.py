"""River's drift detectors without the ~100 MiB that ``import river.drift`` costs.

River's ``river/drift/__init__.py`` imports ``river.drift.datasets``, which
imports ``river.datasets`` and ``river.stream``: scikit-learn, pandas and
``scipy.stats``, about 100 MiB of RSS in every Guardian process, none of it
used (Guardian needs the detector modules ``river.drift.adwin``,
``river.drift.page_hinkley``, ``river.drift.binary.*``, and
``river.drift.kswin`` only when a KSWIN detector is configured).

:func:`defer_package_init` puts the package into ``sys.modules`` with its
``__path__`` but without running its ``__init__`` yet, so ``import
river.drift.adwin`` loads that module alone. The package stays whole: the first
read of any other attribute of ``river.drift`` (``from river.drift import
ADWIN``, ``river.drift.datasets``) runs the real ``__init__`` then and returns
the attribute, so code that imports the package as River documents it still
works, it only pays for it. :mod:`detectors` calls it when imported, before any
module of its imports River; stdlib only. It relies on River's package layout, so
it is fenced like River's other internals: on a River other than
:data:`VERIFIED_RIVER` it does nothing (the whole package is imported as usual).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from typing import Any

#: The River package whose ``__init__`` is deferred.
DRIFT_PACKAGE = "river.drift"
#: The River release whose layout and private attributes Guardian was verified against
#: (also :func:`detectors.river_compat.check_river`'s).
VERIFIED_RIVER = "0.26.1"


def defer_package_init(name: str = DRIFT_PACKAGE) -> bool:
    """Register package ``name`` without running its ``__init__`` until an attribute is read.

    Returns whether it did (``False`` when the package is already imported, not
    installed, or River is not the verified release: then nothing changes).
    """
    if name in sys.modules:
        return False
    try:
        if importlib.metadata.version("river") != VERIFIED_RIVER:
            return False
    except importlib.metadata.PackageNotFoundError:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:
        return False
    loader = spec.loader if spec is not None else None
    if spec is None or loader is None or spec.submodule_search_locations is None:
        return False
    module = importlib.util.module_from_spec(spec)

    def __getattr__(attr: str) -> Any:  # the module-level hook of PEP 562
        # First read of something the package's __init__ defines: run it now, once.
        module.__dict__.pop("__getattr__", None)
        loader.exec_module(module)
        return getattr(module, attr)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return True
