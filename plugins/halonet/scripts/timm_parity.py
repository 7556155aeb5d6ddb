"""Parity of the ``halonet`` presets with timm: parameter counts and outputs under copied weights.

    pip install timm            # test/benchmark-only; not a dependency of forwardkit-halonet
    python plugins/halonet/scripts/timm_parity.py --out plugins/halonet/reports/timm_parity.json

timm imports torchvision in its data module; on a machine with torch but no matching torchvision,
``--stub-torchvision`` replaces it by empty modules (no torchvision code runs when building the models).
Each timm model gets random BN affines/statistics and relative tables (moderate: std 0.1, so that the deep
``halonet_h1``'s softmaxes do not saturate), is converted with ``convert_timm_state_dict`` into the preset
built with ``query_offsets="block"`` (timm's offsets for strided queries), and both run on the same
256 x 256 batch in eval mode.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import sys
import types


def _stub_torchvision() -> None:
    class _Meta(type):
        def __getattr__(cls, name: str) -> str:
            if name.startswith("__"):
                raise AttributeError(name)
            return "stub:" + name

    class _Dummy(metaclass=_Meta):
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    def _getattr(name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Dummy

    class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name == "torchvision" or name.startswith("torchvision."):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            module = types.ModuleType(spec.name)
            module.__path__ = []
            module.__getattr__ = _getattr  # type: ignore[attr-defined]
            module.__version__ = "0.0"  # type: ignore[attr-defined]
            return module

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, _Finder())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("--stub-torchvision", action="store_true")
    args = parser.parse_args()
    if args.stub_torchvision:
        _stub_torchvision()
    import timm
    import torch
    from forwardkit_halonet.model import HaloNet, parameter_count
    from forwardkit_halonet.presets import PUBLISHED_PARAMS
    from forwardkit_halonet.timm_compat import convert_timm_state_dict

    torch.manual_seed(0)
    rows = []
    for name in PUBLISHED_PARAMS:
        ref = timm.create_model(name).eval()
        with torch.no_grad():
            for module in ref.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.normal_(0, 0.05)
                    module.running_var.uniform_(0.8, 1.2)
                    module.weight.normal_(1, 0.1)
                    module.bias.normal_(0, 0.05)
                for pname, p in module.named_parameters(recurse=False):
                    if "rel" in pname:
                        p.normal_(0, 0.1)
        mine = HaloNet(preset=name, query_offsets="block").eval()
        mine.load_state_dict(convert_timm_state_dict(ref.state_dict(), mine), strict=True)
        x = torch.randn(2, 3, 256, 256)
        with torch.no_grad():
            a, b = ref(x), mine(x.permute(0, 2, 3, 1))
        row = {"preset": name, "timm_params": sum(p.numel() for p in ref.parameters()),
               "params": parameter_count(mine), "published_params_m": PUBLISHED_PARAMS[name] / 1e6,
               "max_abs_logit_diff": float((a - b).abs().max()), "max_abs_logit": float(a.abs().max())}
        rows.append(row)
        print(row)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"timm_version": timm.__version__, "torch_version": torch.__version__, "input": [2, 256, 256, 3],
                       "presets": rows}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
