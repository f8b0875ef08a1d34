"""Entry point of ``make demo``."""

import importlib
import pathlib

SECTIONS = ["demo.stencils", "demo.regression", "demo.visualize", "demo.fields_filters"]


def main() -> None:
    out_dir = pathlib.Path("out")
    out_dir.mkdir(exist_ok=True)
    for name in SECTIONS:
        print(f"== {name} ==")
        importlib.import_module(name).run(out_dir)
    print(f"all figures are in {out_dir.resolve()}")


if __name__ == "__main__":
    main()
