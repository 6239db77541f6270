"""Build the API reference of dvos_core (HTML, from the docstrings) with pdoc.

    python docs/build_api.py [OUTPUT_FOLDER]      # default: docs/api; open OUTPUT_FOLDER/index.html

Every public module is documented (packages list their submodules even where ``__all__`` narrows what they
re-export); private modules (``_name``) and ``dvos_core.cli.__main__`` are left out. Needs pdoc (in the dev extra).
"""

from __future__ import annotations

import pkgutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def public_modules(package: str = "dvos_core") -> list[str]:
    """``package`` and all its public submodules (pkgutil imports the packages to find their submodules)."""
    names = [package]
    for info in pkgutil.walk_packages([str(ROOT / package.replace(".", "/"))], prefix=f"{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def build(output: Path, search: bool = True, show_source: bool = True) -> Path:
    """Write the HTML reference into ``output`` (with a search box and each object's source unless turned off);
    returns its index.html."""
    import pdoc

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    pdoc.render.configure(
        docformat="restructuredtext",  # the docstrings use ``code`` and :class:`roles`
        footer_text="dvos_core API reference",
        search=search,
        show_source=show_source,
    )
    with warnings.catch_warnings():
        # pdoc already adds the submodules of a package without __all__; naming them again is harmless
        warnings.filterwarnings("ignore", message="The module specification .* has already been added")
        pdoc.pdoc(*public_modules(), output_directory=Path(output))
    return Path(output) / "index.html"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "api"
    print(f"API reference: {build(out)}")
