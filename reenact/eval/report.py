"""``reenact eval``: measure one or more generators on real faces and write a report folder.

The folder holds report.json (every figure; shape in reenact.eval.schema), report.md (a short
table, models side by side) and pictures (per-face strips, AU sweep grids, interpolation strips,
AU-over-time plots for a video, per-AU distance bars). docs/eval.md explains each figure.

Inputs are analysed once (reenact.eval.subjects: tracking + AUs + identity descriptors) and
shared by all models; stills are measured by reenact.eval.stills, a clip by reenact.eval.video.
"""
from __future__ import annotations

import datetime as _dt
import importlib.util
import json
from pathlib import Path

from reenact.atomic import write_text_atomic
from reenact.errors import ReenactError
from reenact.eval import plots
from reenact.eval.config import EvalConfig
from reenact.eval.editing import StillAnalyser
from reenact.eval.expression import INSTALL_HINT as EXPRESSION_INSTALL, Expression
from reenact.eval.identity import (DIFFERENT_PEOPLE_REFERENCE, INSTALL_HINT, SAME_PERSON_REFERENCE,
                                   reference_note)
from reenact.eval.schema import jsonable, validate
from reenact.eval.stats import acd_stats, stats  # noqa: F401  (part of this module's API)
from reenact.eval.stills import ModelEvaluator
from reenact.eval.subjects import Identity, analyse_inputs, measured_reference

PYFEAT_INSTALL = 'pip install "reenact[feat]"   # py-feat'


def build_models(cfg: EvalConfig) -> list:
    """(column label, generator) for each model of ``cfg``, each built by make_backend on its
    backend and precision (reenact.eval.backends)."""
    from reenact.eval.backends import build_generator, check_backend, check_precision, parse_model_spec

    backend = check_backend(cfg.backend, "--backend") if cfg.backend else None
    precision = check_precision(cfg.precision, "--precision") if cfg.precision else None
    specs = [parse_model_spec(s).resolved(backend, precision) for s in cfg.models]
    return [build_generator(m, cfg.edit.device) for m in specs]


def load_generators(specs) -> list:
    """(spec, generator) for each spec; bad specs raise ReenactError (from the loader)."""
    try:
        from reenact.models.load import load_generator
    except ImportError as e:  # the loader module is part of the package; this is a broken install
        raise ReenactError(f"cannot load generators: {e}") from None
    # load_generator hands back every model in eval mode already.
    return [(str(spec), load_generator(spec)) for spec in specs]


def load_presets(specs) -> list:
    from reenact.errors import AUInputError
    from reenact.aus.presets import load_preset

    out = []
    for s in specs:
        try:
            out.append(load_preset(s))
        except AUInputError as e:
            raise ReenactError(str(e)) from None
    return out


# --------------------------------------------------------------------------------------------
# The report


def not_computed_entries(ident: Identity, expression: Expression | None = None) -> list[dict]:
    out = []
    if expression is not None and expression.recogniser is None:
        out.append({"metric": "expression recognition", "reason": expression.reason,
                    "install": EXPRESSION_INSTALL if "disabled" not in (expression.reason or "") else None})
    if ident.fd is None:
        out.append({"metric": "ACD (identity)", "reason": ident.reason,
                    "install": INSTALL_HINT if "disabled" not in (ident.reason or "") else None})
    if importlib.util.find_spec("feat") is None:
        out.append({"metric": "expression distance by py-feat", "reason": "py-feat is not installed",
                    "install": PYFEAT_INSTALL})
    else:  # installed, but its Detector fetches weights at run time, which Reenact never does
        out.append({"metric": "expression distance by py-feat",
                    "reason": "py-feat is installed but downloads its model weights when a "
                              "Detector is made; Reenact runs offline. Run py-feat on the saved "
                              "pictures yourself.", "install": None})
    return out


def run_eval(cfg: EvalConfig) -> dict:
    """Measure every model of ``cfg`` and write the report folder; returns the report dict."""
    if cfg.faces is None and cfg.video is None:
        raise ReenactError("nothing to evaluate: give --faces DIR and/or --video CLIP")
    if not cfg.models:
        raise ReenactError("give at least one --model (rig, identity or a checkpoint path)")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    presets = load_presets(cfg.presets)
    models = build_models(cfg)
    ident = Identity(cfg.identity)
    expression = Expression(cfg.expression)
    report = {"format": "reenact-eval", "version": 1,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "inputs": {"faces": str(cfg.faces) if cfg.faces else None, "pairs": cfg.pairs,
                         "video": str(cfg.video) if cfg.video else None, "limit": cfg.limit,
                         "presets": [p.name for p in presets], "models": [n for n, _ in models],
                         "estimator": "reenact.aus.estimator (built-in)"},
              "identity": {"computed": ident.fd is not None, "reason": ident.reason,
                           "reference": {"same_person": list(SAME_PERSON_REFERENCE),
                                         "different_people": list(DIFFERENT_PEOPLE_REFERENCE),
                                         "note": reference_note(), "measured": None}},
              "expression": expression.describe(),
              "not_computed": not_computed_entries(ident, expression), "models": [], "pictures": []}
    with StillAnalyser() as analyser:
        subjects, faces_info = analyse_inputs(cfg, analyser, ident)
        report["faces"] = faces_info
        if cfg.pairs:
            report["identity"]["reference"]["measured"] = measured_reference(subjects)
        report["expression"]["reference"] = expression.reference(subjects)
        for name, gen in models:
            ev = ModelEvaluator(name, gen, cfg, analyser, ident, presets, out, expression)
            entry = {"name": name, "image_size": int(gen.image_size),
                     "backend": gen.describe(), "zero_edit": None,
                     "presets": {}, "pairs": None, "video": None, "sweeps": None}
            if subjects:
                entry["zero_edit"] = ev.zero_edit(subjects)
                for p in presets:
                    entry["presets"][p.name] = ev.preset(subjects, p)
                ev.save_gallery()
                if cfg.pairs:
                    entry["pairs"] = ev.paired(subjects)
                entry["sweeps"] = ev.sweeps(subjects)
            if cfg.video is not None:
                from reenact.eval.video import evaluate_video

                entry["video"] = evaluate_video(name, gen, cfg, ident, presets, out, ev.pictures)
            report["models"].append(entry)
            report["pictures"] += ev.pictures
        if subjects:
            from reenact.eval.agreement import output_agreement

            report["agreement"] = output_agreement(models, subjects, presets, cfg.edit)
    report["pictures"] += _summary_plots(report, out)
    write_report(report, out)
    return report


def _summary_plots(report: dict, out: Path) -> list[str]:
    """Per-AU expression distance of each model (first preset, or pairs when present)."""
    series, what = {}, ""
    for m in report["models"]:
        if m.get("pairs"):
            block, what = m["pairs"], "pairs: neutral edited toward the real smile's AUs"
        else:
            name = next(iter(m["presets"]), None)
            block, what = (m["presets"][name], f"preset {name}") if name else (None, "")
        if block and block.get("au_distance"):
            series[m["name"]] = block["au_distance"]["per_au"]
    if not series:
        return []
    plots.per_au_bars(series, out / "au_distance_per_au.png", "mean |estimated - requested|",
                      f"expression distance per AU (0-5 scale), {what}")
    return ["au_distance_per_au.png"]


def write_report(report: dict, out: Path) -> None:
    """report.json (validated) and report.md, each written atomically."""
    data = jsonable(report)
    errors = validate(data)
    if errors:  # a bug in this module, not a user error
        raise RuntimeError("report.json does not match its schema:\n" + "\n".join(errors[:20]))
    write_text_atomic(out / "report.json", json.dumps(data, indent=1, allow_nan=False) + "\n")
    from reenact.eval.markdown import render_markdown

    write_text_atomic(out / "report.md", render_markdown(data))
