"""Where a held-out group's SRCC is lost (issue 20): across its types or within them. For each run of
``mobileiqa benchmark generalisation`` in the given output folders (``OUT/runs/<group>/scores.csv``), the unseen
single-distortion images (every split) of each held-out group: the group's SRCC, the mean SRCC inside each of its
types (are the levels ordered?), and the SRCC once every type's scores are shifted to that type's mean MOS (an
oracle of how bad each type is next to the others; :func:`mobileiqa.experiments.generalisation.type_decomposition`).

Usage (from the project root, inside .venv):
    python benchmarks/generalisation_types.py artifacts/benchmarks/generalisation [more output folders]

Printed, never asserted or recorded (an analysis of finished runs; docs/TRAINING.md quotes it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> None:
    from mobileiqa.experiments.generalisation import type_decomposition

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="+", type=Path, help="output folders of mobileiqa benchmark generalisation")
    args = parser.parse_args(argv)
    tables = []
    for out in args.out:
        runs = sorted((out / "runs").glob("*/scores.csv"))
        if not runs:
            raise SystemExit(f"{out}: no runs/<group>/scores.csv; pass the --out folder of a finished "
                             "`mobileiqa benchmark generalisation` run")
        for path in runs:
            scores = pd.read_csv(path)
            unseen = scores[scores["unseen"].astype(bool)]  # mixtures belong to no group: the decomposition skips them
            tables.append(type_decomposition(unseen).assign(run=str(out), held_out=path.parent.name))
    table = pd.concat(tables, ignore_index=True)
    cols = ["group_srcc", "within_type_srcc", "offsets_oracle_srcc"]
    print(table[["run", "held_out", "group", "n", *cols]].round(3).to_string(index=False))
    print("\nmean over the held-out groups of each run:")
    print(table.groupby(["run", "held_out"], sort=False)[cols].mean().round(3).to_string())


if __name__ == "__main__":
    main()
