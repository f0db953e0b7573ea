"""CFAR through the product's chip path (pixel mode), before (old pixel-mode windows) or after (tuned).

PYTHONPATH=src python training/ships/eval_product_cfar.py ../shared/data/ships after OUT.json
"""

from __future__ import annotations

import json
import sys

from imint.sites import cfar
from imint.sites.evaluate import evaluate_ships


def main(folder: str, which: str, out: str) -> None:
    if which == "before":
        # The pixel-mode parameters before the change are exactly today's non-8-bit branch.
        old = cfar.CfarParams.pixel_mode("float32")
        cfar.CfarParams.pixel_mode = classmethod(lambda cls, dtype="uint8": old)  # type: ignore[method-assign]
    result = evaluate_ships(folder, detector="cfar", product_path=True) | {"variant": which}
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1, default=float)
    print(which, result["by_part"]["heldout"]["sar"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
