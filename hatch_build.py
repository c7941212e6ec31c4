"""Build promofilter's optional compiled core (promofilter/_native.c) into the wheel.

Without a C compiler, or with PROMOFILTER_PURE_PYTHON=1, the build goes on without it: a warning
is printed and promofilter scores with NumPy (the same numbers, slower). An editable install
(`pip install -e .`) builds the module into the source tree, where the editable package is
imported from; `promofilter.native` ignores a module built from another version of the source.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "promofilter/_native.c"


def compile_native(root: Path, build_dir: Path) -> Path:
    """Compile the module with setuptools' portable compiler driver; the path of the library.
    No fused multiply-adds: sums of products must round as NumPy's do. -O3 (loop unswitching and
    vectorisation, never reassociating floating-point sums): stripping 1.13x faster than -O2,
    with the same output (2026-12-01)."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    extension = Extension("promofilter._native", [SOURCE], extra_compile_args=[] if os.name == "nt" else ["-O3", "-ffp-contract=off"])
    command = build_ext(Distribution({"name": "promofilter", "ext_modules": [extension]}))
    command.build_lib = str(build_dir / "lib")
    command.build_temp = str(build_dir / "temp")
    command.ensure_finalized()
    cwd = os.getcwd()
    os.chdir(root)  # setuptools reads sources relative to the working directory
    try:
        command.run()
    finally:
        os.chdir(cwd)
    return Path(command.get_ext_fullpath("promofilter._native"))


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or os.environ.get("PROMOFILTER_PURE_PYTHON") == "1":
            return
        root = Path(self.root)
        self._build_dir = Path(tempfile.mkdtemp(prefix="promofilter-native-"))
        try:
            library = compile_native(root, self._build_dir)
        except Exception as exc:  # no compiler, no headers: promofilter still works, on NumPy
            self.app.display_warning(f"promofilter: the compiled core was not built ({exc}); "
                                     "scoring will use NumPy (same results, slower)")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version == "editable":
            # an editable install imports the package from the source tree: put it there
            shutil.copy2(library, root / "promofilter" / library.name)
        else:
            build_data["force_include"][str(library)] = f"promofilter/{library.name}"

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        build_dir = getattr(self, "_build_dir", None)
        if build_dir is not None:
            shutil.rmtree(build_dir, ignore_errors=True)
