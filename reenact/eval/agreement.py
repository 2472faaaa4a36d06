"""Raw output agreement: every model against the first one, on the same edits of the same faces.

Made for one checkpoint on several backends or precisions (``ckpt@torch``, ``ckpt@onnxruntime:int8``,
``ckpt@openvino:bf16``): the AU and identity figures of a nearly-identity model hardly move when
its numbers change, the pixels do. For each face the first preset's target (the face's own AUs
when there is no preset) is edited by every model with the engine's still path, and compared
with the first model's edit:

- output: the pasted output crop (uint8 (S, S, 3), 0-255 levels): max / mean |difference| and
  PSNR against the first model's (``inf`` = identical);
- attention A (float, 0-1) and colour C (uint8, 0-255 levels): max / mean |difference|;
- frame: max |difference| of the whole pasted frame (catches a paste that leaks outside the crop).

Models whose crop size differs from the first's are listed as not comparable.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from reenact.eval import metrics as M
from reenact.eval.editing import EditConfig, EditedFrame, edit_face
from reenact.eval.stats import stats


def _absdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float64) - b.astype(np.float64))


def compare_edits(ref: EditedFrame, other: EditedFrame) -> dict:
    """Per-face differences of ``other`` against ``ref`` (same face, same target)."""
    out_d, a_d, c_d = (_absdiff(ref.crop_out, other.crop_out), _absdiff(ref.attention, other.attention),
                       _absdiff(ref.color, other.color))
    return {"output_max": float(out_d.max()), "output_mean": float(out_d.mean()),
            "output_psnr": M.psnr(ref.crop_out, other.crop_out),
            "attention_max": float(a_d.max()), "attention_mean": float(a_d.mean()),
            "color_max": float(c_d.max()), "color_mean": float(c_d.mean()),
            "frame_max": float(_absdiff(ref.image, other.image).max())}


def _summarise(rows: list[dict]) -> dict:
    keys = rows[0].keys()
    res = {}
    for k in keys:
        vals = [r[k] for r in rows]
        if k.endswith("_max"):
            res[k] = float(max(vals))  # the worst face
        elif k == "output_psnr":
            finite = [v for v in vals if np.isfinite(v)]
            res[k] = stats(finite) if finite else {"mean": float("inf"), "count": len(vals)}
            res["output_identical_faces"] = len(vals) - len(finite)
        else:
            res[k] = float(np.mean(vals))
    res["count"] = len(rows)
    return res


def output_agreement(models: list, subjects: list, presets: list, edit: EditConfig) -> dict | None:
    """{"reference", "target", "models": {name: summary}} for every model after the first;
    None with fewer than two models or no faces."""
    if len(models) < 2 or not subjects:
        return None
    ref_name, ref_gen = models[0]
    preset = presets[0] if presets else None

    def target(s):
        return preset.apply(s.src.aus) if preset is not None else s.src.aus

    refs = [edit_face(ref_gen, s.image, s.src.face, s.src.aus, target(s), edit)
            for s in tqdm(subjects, desc=f"agreement: {ref_name}", unit="face", leave=False)]
    res = {"reference": ref_name, "target": f"preset {preset.name}" if preset else "zero edit",
           "models": {}}
    for name, gen in models[1:]:
        if int(gen.image_size) != int(ref_gen.image_size):
            res["models"][name] = {"comparable": False,
                                   "reason": f"crop size {gen.image_size} vs {ref_gen.image_size}"}
            continue
        rows = [compare_edits(r, edit_face(gen, s.image, s.src.face, s.src.aus, target(s), edit))
                for r, s in tqdm(list(zip(refs, subjects)), desc=f"agreement: {name}", unit="face",
                                 leave=False)]
        res["models"][name] = {"comparable": True, **_summarise(rows)}
    return res


def agreement_markdown(block: dict | None, fmt) -> list[str]:
    """The report.md table of ``output_agreement``'s result (empty when there is none)."""
    if not block or not block.get("models"):
        return []
    lines = ["", f"Raw output agreement with `{block['reference']}` ({block['target']}, same faces; "
             "output and C in 0-255 levels, A in 0-1; max = worst pixel of any face):", "",
             "| model | output max | output mean | output PSNR dB (mean) | A max | A mean | C max "
             "| C mean | frame max |", "| --- |" + " --- |" * 8]
    for name, r in block["models"].items():
        if not r.get("comparable"):
            lines.append(f"| `{name}` | not comparable: {r.get('reason')} |" + " |" * 7)
            continue
        psnr = r["output_psnr"]["mean"] if isinstance(r["output_psnr"], dict) else r["output_psnr"]
        cells = [r["output_max"], r["output_mean"], psnr, r["attention_max"], r["attention_mean"],
                 r["color_max"], r["color_mean"], r["frame_max"]]
        digits = [0, 3, 2, 4, 5, 0, 3, 0]
        text = [fmt(c, d) for c, d in zip(cells, digits)]
        if r.get("output_identical_faces"):  # PSNR is the mean over the faces that differ at all
            text[2] += f" ({r['output_identical_faces']}/{r['count']} faces identical)"
        lines.append(f"| `{name}` | " + " | ".join(text) + " |")
    return lines
