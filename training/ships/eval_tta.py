"""``imint eval ships`` for the committed CNN with flip test-time augmentation switched on (card ``tta``).

The committed card keeps ``tta: false``; this only flips it in memory, so the same weights are scored
with and without TTA on the same honest split (see docs/sites.md).

    nice -n 10 python training/ships/eval_tta.py /work/shared/data/ships /tmp/ships-cnn-tta.json
"""

from __future__ import annotations

import json
import sys

from imint.sites import cnn
from imint.sites.evaluate import evaluate_ships


def main(folder: str, out: str) -> None:
    cnn.load_model()[1]["tta"] = True  # the cached card: _run and model_card read it from there
    result = evaluate_ships(folder, detector="cnn")
    result["tta"] = True
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps({k: result["by_part"][k]["sar"]["f1"] for k in ("dev", "heldout")}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
