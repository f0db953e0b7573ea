"""Markdown tables of one or more ``imint eval ships --json`` results (whole set, honest split parts).

python training/ships/eval_table.py /tmp/ships-cfar.json /tmp/ships-cnn.json
"""

from __future__ import annotations

import json
import sys
from typing import Any


def cell(m: dict[str, Any]) -> str:
    return f"{m['images']} / {m['objects']} | {m['precision']:.3f} / {m['recall']:.3f} / **{m['f1']:.3f}** / {m['ap50']:.3f}"


def rows(r: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [("whole dev set, SAR", r["by_modality"]["SAR"])]
    out += [(f"whole, SAR {k}", v) for k, v in r["by_subset_sar"].items()]
    out += [(f"whole, {k}", v) for k, v in r["by_source"].items()]
    for part in ("dev", "heldout"):
        p = r["by_part"][part]
        out.append((f"{part}, SAR", p["sar"]))
        out += [(f"{part}, SAR {k}", v) for k, v in p["sar_by_subset"].items()]
        out += [(f"{part}, {k}", v) for k, v in p["by_source"].items() if k != "DOTA"]
        if "sar_unseen" in p:
            out.append((f"{part}, SAR never trained on", p["sar_unseen"]))
    out.append(("heldout, SAR @ dev-best threshold", r["by_part"]["heldout"]["sar_at_dev_best_threshold"]))
    for k, v in r["by_part"]["heldout"]["sar_by_subset_at_dev_best_threshold"].items():
        out.append((f"heldout, SAR {k} @ dev-best threshold", v))
    return out


def main(paths: list[str]) -> None:
    results = [json.loads(open(p).read()) for p in paths]
    header = (
        "| part | "
        + " | ".join(f"{r['detector']} images / ships | P / R / F1 / AP50" for r in results)
        + " |"
    )
    print(header)
    print("|" + "---|" * (1 + 2 * len(results)))
    table = [dict(rows(r)) for r in results]
    labels = list(dict.fromkeys(label for t in table for label in t))
    for label in labels:
        print(f"| {label} | " + " | ".join(cell(t[label]) if label in t else "- | -" for t in table) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
