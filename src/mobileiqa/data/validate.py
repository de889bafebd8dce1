"""The data validation gate (Great Expectations 1.x): a manifest passes or the pipeline stops.

Checks: schema and types, MOS present and in [0, 1] (and ``mos_raw`` on the scale its transform names), unique
ids and paths, files inside the dataset root that exist and decode, minimum resolution, recorded sizes equal to
the files' sizes, splits disjoint by content, every split present with a minimum count. Per-file checks run in
pandas first (one ``file_status`` column, ``"ok"`` or the reason) so Great Expectations can name the rows.

Outputs an HTML report and a JSON summary; :class:`DataValidationError` lists each failing expectation with the
image ids at fault.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from mobileiqa.atomic import write_json, write_text
from mobileiqa.data.images import ImageError, load_image, probe_image
from mobileiqa.data.manifest import COLUMNS, SPLITS, ManifestError, annotator_columns, read_manifest, safe_relpath
from mobileiqa.data.settings import ValidateConfig

MAX_LISTED = 20


class DataValidationError(RuntimeError):
    """The gate failed; ``failures`` holds (expectation, column, unexpected count, sample ids)."""

    def __init__(self, manifest: Path, failures: list[dict], report: Path | None) -> None:
        self.failures = failures
        lines = [f"data validation failed for {manifest}: {len(failures)} expectation(s) not met"]
        for f in failures:
            ids = ", ".join(map(str, f["ids"][:10])) + (" ..." if len(f["ids"]) > 10 else "")
            lines.append(f"  - {f['expectation']}({f['column']}): {f['unexpected']} row(s){': ' + ids if ids else ''}")
        if report:
            lines.append(f"report: {report}")
        super().__init__("\n".join(lines))


def _file_status(root: Path, rel: str, decode: bool) -> tuple[str, int, int]:
    try:
        rel = safe_relpath(rel, "manifest")
    except ManifestError:
        return "path escapes the dataset root", -1, -1
    path = root / rel
    try:
        w, h = probe_image(path)
        if decode:
            load_image(path)
        return "ok", w, h
    except ImageError as exc:
        return exc.reason, -1, -1


def file_checks(df: pd.DataFrame, root: Path, decode: bool = True, progress: bool = True) -> pd.DataFrame:
    rows = [_file_status(root, p, decode) for p in tqdm(df["path"], desc="check files", unit="img",
                                                        disable=not progress, leave=False)]
    out = df.copy()
    out["file_status"] = [r[0] for r in rows]
    out["size_matches"] = [(r[1], r[2]) == (w, h) or r[0] != "ok" for r, w, h in
                           zip(rows, df["width"], df["height"], strict=True)]
    out["content_splits"] = out.groupby("content_id")["split"].transform("nunique")
    return out


def _suite(gx, opts: ValidateConfig, annotators: list[str]):
    e = gx.expectations
    items = [e.ExpectColumnToExist(column=c) for c in COLUMNS]
    items += [
        e.ExpectColumnValuesToNotBeNull(column="mos"),
        e.ExpectColumnValuesToBeBetween(column="mos", min_value=0.0, max_value=1.0),
        e.ExpectColumnValuesToNotBeNull(column="mos_raw"),
        e.ExpectColumnValuesToBeUnique(column="image_id"),
        e.ExpectColumnValuesToBeUnique(column="path"),
        e.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        e.ExpectColumnDistinctValuesToContainSet(column="split", value_set=list(SPLITS)),
        e.ExpectColumnValuesToBeInSet(column="file_status", value_set=["ok"]),
        e.ExpectColumnValuesToBeInSet(column="size_matches", value_set=[True]),
        e.ExpectColumnValuesToBeBetween(column="width", min_value=opts.min_width),
        e.ExpectColumnValuesToBeBetween(column="height", min_value=opts.min_height),
        e.ExpectColumnValuesToBeBetween(column="mos_std", min_value=0.0),
        e.ExpectColumnValuesToBeInSet(column="content_splits", value_set=[1]),
        e.ExpectColumnValuesToBeBetween(column="dist_level", min_value=0, max_value=5),
    ]
    items += [e.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, max_value=1.0) for c in annotators]
    return items


def _split_counts(df: pd.DataFrame, minimum: int) -> list[dict]:
    counts = df["split"].value_counts()
    return [{"expectation": "split_has_min_images", "column": "split", "unexpected": int(counts.get(s, 0)),
             "ids": [f"{s}: {int(counts.get(s, 0))} < {minimum}"]} for s in SPLITS if counts.get(s, 0) < minimum]


def run_gate(manifest: str | os.PathLike, root: str | os.PathLike | None = None, opts: ValidateConfig | None = None,
             report_dir: str | os.PathLike | None = None, progress: bool = True) -> dict:
    """Validate ``manifest`` (paths relative to ``root``, default its folder) with ``opts`` (the default
    ``validate`` section when ``None``). Writes ``report_dir/report.html`` and ``summary.json``; raises
    :class:`DataValidationError` naming the failures."""
    opts = opts or ValidateConfig()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    manifest = Path(manifest)
    root = Path(root) if root else manifest.parent
    if opts.decode_check not in ("all", "header"):
        raise ValueError(f"validate.decode_check must be 'all' or 'header', got {opts.decode_check!r}")
    df = read_manifest(manifest)  # schema/type errors raise ManifestError naming row and column
    checked = file_checks(df, root, decode=opts.decode_check == "all", progress=progress)
    annotators = annotator_columns(df)

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = ctx.data_sources.add_pandas("manifest").add_dataframe_asset("rows").add_batch_definition_whole_dataframe(
        "all")
    suite = ctx.suites.add(gx.ExpectationSuite(name="mobileiqa_manifest"))
    for expectation in _suite(gx, opts, annotators):
        suite.add_expectation(expectation)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="gate", data=batch, suite=suite))
    result = vd.run(batch_parameters={"dataframe": checked},
                    result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["image_id"]})

    outcomes, failures = [], []
    for r in result.results:
        cfg = r.expectation_config
        column = cfg.kwargs.get("column", "")
        ids = [row.get("image_id") for row in (r.result.get("unexpected_index_list") or [])]
        entry = {"expectation": cfg.type, "column": column, "success": bool(r.success),
                 "unexpected": int(r.result.get("unexpected_count") or 0), "ids": ids[:MAX_LISTED]}
        if column == "file_status":
            bad = checked[checked["file_status"] != "ok"]
            entry["ids"] = [f"{i} ({p}: {s})" for i, p, s in
                            zip(bad["image_id"], bad["path"], bad["file_status"], strict=True)][:MAX_LISTED]
        outcomes.append(entry)
        if not r.success:
            failures.append(entry)
    extra = _split_counts(df, opts.min_images_per_split)
    outcomes += [{**f, "success": False} for f in extra]
    failures += extra

    summary = {"manifest": str(manifest), "rows": len(df), "success": not failures,
               "splits": {s: int((df["split"] == s).sum()) for s in SPLITS}, "expectations": outcomes}
    report = None
    if report_dir:
        report = Path(report_dir) / "report.html"
        write_text(report, _html(summary))
        write_json(Path(report_dir) / "summary.json", summary)
    if failures:
        raise DataValidationError(manifest, failures, report)
    return summary


def _html(summary: dict) -> str:
    rows = "".join(
        f"<tr class={'ok' if e['success'] else 'bad'}><td>{'✔' if e['success'] else '✘'}</td>"
        f"<td>{html.escape(e['expectation'])}</td><td>{html.escape(str(e['column']))}</td>"
        f"<td>{e['unexpected']}</td><td>{html.escape(', '.join(map(str, e['ids'])))}</td></tr>"
        for e in summary["expectations"])
    status = "PASSED" if summary["success"] else "FAILED"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>mobileiqa data validation</title>
<style>body{{font-family:sans-serif}}td,th{{padding:4px 8px;border-bottom:1px solid #ddd}}
.bad{{background:#fdd}}.ok{{background:#efe}}</style></head><body>
<h1>Data validation: {status}</h1><p>{html.escape(summary['manifest'])} — {summary['rows']} rows; splits
{html.escape(str(summary['splits']))}</p>
<table><tr><th></th><th>expectation</th><th>column</th><th>unexpected</th><th>rows (image_id)</th></tr>{rows}</table>
</body></html>
"""
