"""Score a trained model (a models folder with shipnet.onnx + shipnet.json) on the held-out part only.

PYTHONPATH=src python training/ships/eval_heldout_model.py ../shared/data/ships /tmp/models-v2 OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from imint.sites import cnn
from imint.sites.evaluate import evaluate_ships


def main(folder: str, models: str, out: str) -> None:
    cnn.MODEL_DIR = Path(models)
    cnn.load_model.cache_clear()
    result = evaluate_ships(folder, detector="cnn", part="heldout")
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1, default=float)
    print("heldout", result["by_part"]["heldout"]["sar"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
