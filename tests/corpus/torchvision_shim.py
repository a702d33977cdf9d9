"""Import torchvision's pure-Python model definitions where its compiled operators do not load.

PyPI's torchvision 0.28 wheel registers fake (meta) kernels for its C++
operators (torchvision::nms, roi_align, ...) when imported; against the CPU
torch 2.13 build on these machines those operators do not exist, so
`import torchvision` raises. The classification models need none of them:
skipping the two registration modules is enough to build and run every model
of torchvision.models. A test fixture only - the product never does this
(`deepwire import torchvision:NAME` says to install a matching torchvision).
"""

from __future__ import annotations

import sys
import types

_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")


def torchvision_models():
    """torchvision.models, importing torchvision without its operator registrations if it must."""
    try:
        import torchvision.models as models
        return models
    except RuntimeError:  # "operator torchvision::nms does not exist": the compiled ops do not load
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]  # the half-imported package, so it imports again from the start
    for name in _REGISTRATIONS:
        sys.modules.setdefault(name, types.ModuleType(name))
    import torchvision.models as models
    return models


def timm_module():
    """timm (which imports torchvision), after the same fix."""
    torchvision_models()
    import timm
    return timm
