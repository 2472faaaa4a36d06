"""report.md: the summary table of a report (one column per model) and the list of pictures."""
from __future__ import annotations

from reenact.eval.identity import DIFFERENT_PEOPLE_REFERENCE, SAME_PERSON_REFERENCE

# Printed beside every ACD figure: the scale an ACD is read against.
REF = (" (ref.: same person {:.2f}-{:.2f}, different people {:.1f}-{:.1f})"
       .format(*SAME_PERSON_REFERENCE, *DIFFERENT_PEOPLE_REFERENCE))


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v  # "inf", "nan"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def _rows(models: list[dict]) -> list[tuple[str, list[str]]]:
    """(label, one cell per model) for every figure any model has."""
    spec = [("zero edit: PSNR face (dB, median)", ("zero_edit", "psnr", "median"), 2),
            ("zero edit: SSIM face", ("zero_edit", "ssim", "mean"), 4),
            ("zero edit: ACD" + REF, ("zero_edit", "acd", "mean"), 3),
            ("zero edit: AU distance (MAE)", ("zero_edit", "au_distance", "mae"), 3)]
    presets = []
    for m in models:
        presets += [p for p in m.get("presets", {}) if p not in presets]
    for p in presets:
        spec += [(f"{p}: AU distance (MAE)", ("presets", p, "au_distance", "mae"), 3),
                 (f"{p}: AU distance, moved AUs", ("presets", p, "au_distance", "mae_moved"), 3),
                 (f"{p}: AU distance, kept AUs", ("presets", p, "au_distance", "mae_kept"), 3),
                 (f"{p}: requested change achieved", ("presets", p, "au_distance", "achieved"), 2),
                 (f"{p}: ACD" + REF, ("presets", p, "acd", "mean"), 3),
                 (f"{p}: read as its emotion (share of faces)", ("presets", p, "expression", "share"), 2),
                 (f"{p}: its emotion's mean probability", ("presets", p, "expression", "mean_probability"), 2),
                 (f"{p}: attention mean in face", ("presets", p, "attention", "mean_in_face"), 3),
                 (f"{p}: seam excess", ("presets", p, "seam_excess", "median"), 2),
                 (f"{p}: face found", ("presets", p, "face_found_rate"), 2)]
    spec += [("pairs: AU distance to real (MAE)", ("pairs", "au_distance", "mae"), 3),
             ("pairs: AU distance, moved AUs", ("pairs", "au_distance", "mae_moved"), 3),
             ("pairs: requested change achieved", ("pairs", "au_distance", "achieved"), 2),
             ("pairs: ACD to real" + REF, ("pairs", "acd", "mean"), 3),
             ("pairs: read as happy (share of faces)", ("pairs", "expression", "share"), 2),
             ("pairs: mean happy probability", ("pairs", "expression", "mean_probability"), 2),
             ("pairs: PSNR aligned face (dB)", ("pairs", "psnr", "mean"), 2),
             ("pairs: SSIM aligned face", ("pairs", "ssim", "mean"), 4),
             ("pairs, input unedited: AU distance", ("pairs", "baseline_input", "au_distance", "mae"), 3),
             ("pairs, input unedited: AU distance, moved AUs", ("pairs", "baseline_input", "au_distance", "mae_moved"), 3),
             ("pairs, input unedited: ACD" + REF, ("pairs", "baseline_input", "acd", "mean"), 3),
             ("pairs, input unedited: PSNR (dB)", ("pairs", "baseline_input", "psnr", "mean"), 2),
             ("pairs, input unedited: SSIM", ("pairs", "baseline_input", "ssim", "mean"), 4),
             ("video: flicker ratio (out/in)", ("video", "flicker", "ratio"), 3),
             ("video: flow-warped error ratio", ("video", "flow_warped", "ratio"), 3),
             ("video: seam excess", ("video", "seam_excess", "median"), 2),
             ("video: AU distance (MAE)", ("video", "au_distance", "mae"), 3),
             ("video: AU distance, moved AUs", ("video", "au_distance", "mae_moved"), 3),
             ("video: requested change achieved", ("video", "au_distance", "achieved"), 2),
             ("video: ACD" + REF, ("video", "acd", "mean"), 3),
             ("video: face found", ("video", "face_found_rate"), 2)]
    rows = []
    for label, keys, digits in spec:
        cells = [_get(m, *keys) for m in models]
        if any(c is not None for c in cells):
            rows.append((label, [_fmt(c, digits) for c in cells]))
    return rows


def _sweep_tables(models: list[dict]) -> list[str]:
    """Per model and swept face: the AU estimated on the output at each requested level."""
    lines = []
    for m in models:
        for face, per_au in (m.get("sweeps") or {}).items():
            levels = next(iter(per_au.values()))["requested"]
            lines += ["", f"AU sweep, `{m['name']}`, face {face}: AU estimated on the output at each "
                      "requested level (own value in brackets)", "",
                      "| AU | " + " | ".join(_fmt(v, 2) for v in levels) + " |",
                      "| --- |" + " --- |" * len(levels)]
            for au, r in per_au.items():
                lines.append(f"| {au} ({_fmt(r.get('own'), 2)}) | "
                             + " | ".join(_fmt(v, 2) for v in r["estimated"]) + " |")
    return lines


def _expression_lines(expr: dict | None) -> list[str]:
    """What the recogniser is and how the unedited inputs and real targets read."""
    if not expr or not expr.get("computed"):
        return []
    lines = ["", f"Expression: {expr['model']}; crop: {expr['crop']}. \"read as its emotion\": share "
             "of faces whose most probable label is the preset's emotion (disgust: disgust or angry)."]
    ref = expr.get("reference") or {}
    real = ref.get("real_target")
    if real:
        lines.append(f"Reference, the same people's real target photos: read as happy "
                     f"{_fmt(real['share'], 2)}, mean happy probability {_fmt(real['mean_probability'], 2)} "
                     f"(n={real['count']}).")
    inp = ref.get("input")
    if inp:
        top = sorted(inp["mean_per_label"].items(), key=lambda kv: -kv[1])[:3]
        lines.append("Unedited inputs, mean probabilities: "
                     + ", ".join(f"{k} {_fmt(v, 2)}" for k, v in top) + f" (n={inp['count']}).")
    return lines


def render_markdown(report: dict) -> str:
    models = report["models"]
    inp = report["inputs"]
    lines = ["# Reenact evaluation", "",
             f"Faces: `{inp.get('faces')}`{' (pairs)' if inp.get('pairs') else ''}; "
             f"video: `{inp.get('video')}`; presets: {', '.join(inp.get('presets', []))}; "
             f"AUs estimated by {inp.get('estimator')}.", ""]
    faces = report.get("faces") or {}
    if faces.get("images"):
        lines += [f"{faces['with_face']} of {faces['images']} input(s) had a face"
                  + (f"; skipped: {', '.join(faces['skipped'][:5])}" if faces.get("skipped") else "")
                  + ".", ""]
    names = [m["name"] for m in models]
    lines += ["| figure | " + " | ".join(f"`{n}`" for n in names) + " |",
              "| --- | " + " | ".join("---" for _ in names) + " |"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in _rows(models)]
    ref = report["identity"]["reference"]
    lines += ["", f"ACD: L2 distance of dlib ResNet face descriptors; reference: {ref['note']}."]
    meas = ref.get("measured") or {}
    if meas.get("same_person"):
        sp, dp = meas["same_person"], meas.get("different_people") or {}
        lines.append(f"Measured on these pairs: same person {_fmt(sp['mean'])} "
                     f"(min {_fmt(sp['min'])}, max {_fmt(sp['max'])}, n={sp['count']}); "
                     f"different people {_fmt(dp.get('mean'))} (n={dp.get('count', 0)}).")
    lines += _expression_lines(report.get("expression"))
    from reenact.eval.agreement import agreement_markdown

    lines += agreement_markdown(report.get("agreement"), _fmt)
    lines += _sweep_tables(models)
    warnings = [(m["name"], p, b["warning"]) for m in models
                for p, b in m.get("presets", {}).items() if b.get("warning")]
    if warnings:
        lines += ["", "Warnings:"] + [f"- `{n}` {p}: {w}" for n, p, w in warnings]
    if report["not_computed"]:
        lines += ["", "Not computed:"]
        for e in report["not_computed"]:
            hint = f" Install: `{e['install']}`" if e.get("install") else ""
            lines.append(f"- {e['metric']}: {e['reason']}.{hint}")
    lines += ["", "Lower is better for AU distance, ACD, seam excess (1 = no seam) and flicker "
              "ratio (1 = as steady as the input); higher is better for PSNR/SSIM. "
              "docs/eval.md explains every figure.", "", "## Pictures", ""]
    lines += [f"![{p}]({p})" for p in report["pictures"]]
    return "\n".join(lines) + "\n"
