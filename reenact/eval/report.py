"""``reenact eval``: measure one or more generators on real faces and write a report folder.

The folder holds report.json (every figure; shape in reenact.eval.schema), report.md (a short
table, models side by side) and pictures (per-face strips, AU sweep grids, interpolation strips,
AU-over-time plots for a video, per-AU distance bars). docs/eval.md explains each figure.

Inputs are analysed once (tracking + AUs + identity descriptors) and shared by all models.
"""
from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reenact.aus.names import AU_NAMES, au_index
from reenact.cli.errors import ReenactError
from reenact.eval import metrics as M
from reenact.eval import plots
from reenact.eval.editing import (Analysed, EditConfig, FaceEdit, StillAnalyser, edit_face,
                                  generator_align)
from reenact.eval.identity import (DIFFERENT_PEOPLE_REFERENCE, INSTALL_HINT, SAME_PERSON_REFERENCE,
                                   FaceDescriptor, acd, dlib_box_from_landmarks, reference_note,
                                   unavailable_reason)
from reenact.eval.inputs import list_images, list_pairs, read_image
from reenact.eval.schema import jsonable, validate
from reenact.tracking.align import AlignConfig, crop_from_frame, template_points, warp_to_crop

PYFEAT_INSTALL = 'pip install "reenact[feat]"   # py-feat'
# AUs shown in sweeps and time plots: brows, cheeks, lip corners, mouth, blink.
DEFAULT_SWEEP_AUS = ("AU01", "AU04", "AU06", "AU12", "AU15", "AU25", "AU26", "AU45")
PAIR_CROP = AlignConfig(size=256)  # aligned region for paired PSNR/SSIM, independent of the model


@dataclass(frozen=True)
class EvalConfig:
    """models: generator specs ("rig", "identity", a checkpoint path); faces: a folder of images
    (or of two paired subfolders with ``pairs``); video: a clip; presets: AU presets (names of
    shipped presets or JSON files); limit: first N images/pairs; video_frames: first N frames;
    video_targets: the AU source for the video (default: the first preset); sweep_aus /
    sweep_levels: AU sweep grid; sweep_faces: faces that get sweeps and interpolation strips;
    strips: faces that get a per-face strip; identity: compute ACD when dlib is present."""

    models: tuple[str, ...]
    out: Path
    faces: Path | None = None
    pairs: bool = False
    video: Path | None = None
    presets: tuple[str, ...] = ("smile", "surprise")
    limit: int | None = None
    video_frames: int | None = 120
    video_targets: str | None = None
    sweep_aus: tuple[str, ...] = DEFAULT_SWEEP_AUS
    sweep_levels: tuple[float, ...] = (0.0, 1.25, 2.5, 3.75, 5.0)
    sweep_faces: int = 1
    strips: int = 4
    interp_steps: int = 6
    identity: bool = True
    edit: EditConfig = field(default_factory=EditConfig)


# --------------------------------------------------------------------------------------------
# Small helpers


def stats(values) -> dict | None:
    """Mean, median, std, min, max, count of a list of floats (None when empty). ``inf`` values
    (PSNR of identical regions) make the mean inf; the median and min stay informative."""
    v = np.asarray([x for x in values if x is not None and not np.isnan(x)], np.float64)
    if len(v) == 0:
        return None
    finite = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if len(finite) == len(v) else float("inf"),
            "median": float(np.median(v)), "std": float(finite.std()) if len(finite) else None,
            "min": float(v.min()), "max": float(v.max()), "count": int(len(v))}


def acd_stats(values) -> dict | None:
    """``stats`` of ACD values, with the reference scale beside the figures."""
    st = stats(values)
    if st is not None:
        st["reference"] = reference_note()
    return st


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def load_generators(specs) -> list:
    """(spec, generator) for each spec; bad specs raise ReenactError (from the loader)."""
    try:
        from reenact.models.load import load_generator
    except ImportError as e:  # the loader module is part of the package; this is a broken install
        raise ReenactError(f"cannot load generators: {e}") from None
    out = []
    for spec in specs:
        gen = load_generator(spec)
        if hasattr(gen, "eval"):
            gen.eval()
        out.append((str(spec), gen))
    return out


def load_presets(specs) -> list:
    from reenact.aus.errors import AUInputError
    from reenact.aus.presets import load_preset

    out = []
    for s in specs:
        try:
            out.append(load_preset(s))
        except AUInputError as e:
            raise ReenactError(str(e)) from None
    return out


# --------------------------------------------------------------------------------------------
# Input analysis (shared by all models)


@dataclass
class Subject:
    """One evaluated face: the source image and, in pairs mode, the real target expression."""

    name: str
    image: np.ndarray
    src: Analysed
    target_image: np.ndarray | None = None
    target: Analysed | None = None
    descriptor: np.ndarray | None = None
    target_descriptor: np.ndarray | None = None


class Identity:
    """Descriptors when dlib is present; ``reason`` says why not otherwise."""

    def __init__(self, enabled: bool):
        self.reason = None if enabled else "disabled (--no-identity)"
        self.fd = None
        if enabled:
            self.reason = unavailable_reason()
            if self.reason is None:
                self.fd = FaceDescriptor()

    def describe(self, image: np.ndarray, a: Analysed | None) -> np.ndarray | None:
        if self.fd is None or a is None:
            return None
        return self.fd.describe(image, dlib_box_from_landmarks(a.face.landmarks))


def analyse_inputs(cfg: EvalConfig, analyser: StillAnalyser, ident: Identity) -> tuple[list[Subject], dict]:
    """Track and describe every input; images without a face are listed, not fatal, unless no
    image has one."""
    if cfg.faces is None:
        return [], {"images": 0, "with_face": 0, "skipped": []}
    if cfg.pairs:
        items = [(p.pid, p.source, p.target) for p in list_pairs(cfg.faces)]
    else:
        items = [(p.stem, p, None) for p in list_images(cfg.faces)]
    items = items[:cfg.limit] if cfg.limit else items
    subjects, skipped = [], []
    for name, src_path, tgt_path in tqdm(items, desc="analysing inputs", unit="face"):
        img = read_image(src_path)
        src = analyser.largest(img)
        tgt_img = read_image(tgt_path) if tgt_path is not None else None
        tgt = analyser.largest(tgt_img) if tgt_img is not None else None
        missing = [str(p) for p, a in ((src_path, src), (tgt_path, tgt)) if p is not None and a is None]
        if missing:
            skipped += missing
            continue
        subjects.append(Subject(name, img, src, tgt_img, tgt, ident.describe(img, src),
                                ident.describe(tgt_img, tgt) if tgt is not None else None))
    if not subjects:
        raise ReenactError(f"{cfg.faces}: no face found in any of the {len(items)} image(s) "
                           f"(faces must be visible and at least ~40 px across)")
    return subjects, {"images": len(items), "with_face": len(subjects), "skipped": skipped}


def measured_reference(subjects: list[Subject]) -> dict | None:
    """ACD between the two photos of each person, and between different people's source
    photos, on this data: the scale an ACD figure is read against."""
    same = [acd(s.descriptor, s.target_descriptor) for s in subjects
            if s.descriptor is not None and s.target_descriptor is not None]
    descs = [s.descriptor for s in subjects if s.descriptor is not None]
    diff = [acd(a, b) for i, a in enumerate(descs) for b in descs[i + 1:]]
    if not same and not diff:
        return None
    return {"same_person": stats(same), "different_people": stats(diff)}


# --------------------------------------------------------------------------------------------
# Per-model measurements


class Collector:
    """Accumulates the figures of one kind of edit (zero edit, a preset, pairs)."""

    def __init__(self):
        self.requested, self.estimated, self.source = [], [], []
        self.acd, self.psnr, self.ssim, self.seam, self.found = [], [], [], [], []
        self.attention = []

    def summary(self, with_attention: bool = True) -> dict:
        ad = M.au_distance(np.array(self.requested), np.array(self.estimated),
                           np.array(self.source)).as_dict() if self.requested else None
        att = None
        if with_attention and self.attention:
            att = M.attention_stats(np.stack([a for a, _ in self.attention]))
            att.update({"mean_in_face": float(np.mean([a[m].mean() for a, m in self.attention]))})
        return {"count": len(self.found), "au_distance": ad, "acd": acd_stats(self.acd),
                "psnr": stats(self.psnr), "ssim": stats(self.ssim), "attention": att,
                "seam_excess": stats(self.seam),
                "face_found_rate": float(np.mean(self.found)) if self.found else None}


class ModelEvaluator:
    """Runs every measurement of one generator on the analysed subjects."""

    def __init__(self, name: str, generator, cfg: EvalConfig, analyser: StillAnalyser,
                 ident: Identity, presets: list, out: Path):
        self.name, self.gen, self.cfg = name, generator, cfg
        self.analyser, self.ident, self.presets, self.out = analyser, ident, presets, out
        self.pictures: list[str] = []
        self.align = generator_align(generator)
        self.crop_hull = M.face_mask(template_points(self.align), (self.align.size, self.align.size))

    # -- one edit, measured ---------------------------------------------------------------
    def _measure(self, col: Collector, s: Subject, target: np.ndarray,
                 compare_to: np.ndarray | None = None) -> tuple[FaceEdit, Analysed | None]:
        e = edit_face(self.gen, s.image, s.src.face, s.src.aus, target, self.cfg.edit)
        found = self.analyser.matching(e.image, s.src.face)
        col.found.append(found is not None)
        if found is not None:
            col.requested.append(target)
            col.estimated.append(found.aus)
            col.source.append(s.src.aus)
        ref = s.descriptor if compare_to is None else compare_to
        if ref is not None and found is not None:
            col.acd.append(acd(ref, self.ident.describe(e.image, found)))
        col.attention.append((e.attention, self.crop_hull))
        region = M.paste_region(np.linalg.inv(np.vstack([e.crop_from_frame, [0, 0, 1]]))[:2],
                                e.size, s.image.shape)
        try:
            col.seam.append(M.seam_energy(e.image, region, reference=s.image)["excess"])
        except ValueError:  # the crop covers the whole image: there is no seam to measure
            pass
        return e, found

    def zero_edit(self, subjects: list[Subject]) -> dict:
        col = Collector()
        for s in tqdm(subjects, desc=f"{self.name}: zero edit", unit="face", leave=False):
            e, _ = self._measure(col, s, s.src.aus)
            mask = M.face_mask(s.src.face.landmarks, s.image.shape)
            col.psnr.append(M.psnr(s.image, e.image, mask))
            col.ssim.append(M.ssim(s.image, e.image, mask))
        return col.summary(with_attention=True)

    def preset(self, subjects: list[Subject], preset) -> dict:
        col = Collector()
        for k, s in enumerate(tqdm(subjects, desc=f"{self.name}: {preset.name}", unit="face", leave=False)):
            e, _ = self._measure(col, s, preset.apply(s.src.aus))
            if k < self.cfg.strips and not self.cfg.pairs and preset is self.presets[0]:
                self._strip(s, e, f"strip_{preset.name}_{s.name}")
        out = col.summary()
        if out["attention"] and out["attention"]["warning"]:
            out["warning"] = out["attention"]["warning"]
        return out

    def paired(self, subjects: list[Subject]) -> dict:
        """Neutral edited toward the AUs of the same person's real smile, compared with it."""
        col, base = Collector(), Collector()
        for k, s in enumerate(tqdm(subjects, desc=f"{self.name}: pairs", unit="pair", leave=False)):
            e, found = self._measure(col, s, s.target.aus, compare_to=s.target_descriptor)
            real = self._aligned(s.target_image, s.target.face.landmarks)
            if found is not None:
                out = self._aligned(e.image, found.face.landmarks)
                col.psnr.append(M.psnr(real, out, self._pair_mask))
                col.ssim.append(M.ssim(real, out, self._pair_mask))
            # Doing nothing: the neutral input itself against the real smile.
            inp = self._aligned(s.image, s.src.face.landmarks)
            base.found.append(True)
            base.requested.append(s.target.aus)
            base.estimated.append(s.src.aus)
            base.source.append(s.src.aus)
            base.psnr.append(M.psnr(real, inp, self._pair_mask))
            base.ssim.append(M.ssim(real, inp, self._pair_mask))
            if s.descriptor is not None and s.target_descriptor is not None:
                base.acd.append(acd(s.descriptor, s.target_descriptor))
            if k < self.cfg.strips:
                self._strip(s, e, f"strip_pair_{s.name}")
        res = col.summary()
        res["baseline_input"] = {k: v for k, v in base.summary(with_attention=False).items()
                                 if k in ("count", "au_distance", "acd", "psnr", "ssim")}
        return res

    @property
    def _pair_mask(self) -> np.ndarray:
        return M.face_mask(template_points(PAIR_CROP), (PAIR_CROP.size, PAIR_CROP.size))

    @staticmethod
    def _aligned(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return warp_to_crop(image, crop_from_frame(landmarks, PAIR_CROP), PAIR_CROP.size)

    # -- sweeps and pictures --------------------------------------------------------------
    def sweeps(self, subjects: list[Subject]) -> dict:
        """For the first faces: each sweep AU set to each level (others at the face's own),
        the estimated response, a grid picture and an interpolation strip."""
        res = {}
        for s in subjects[:self.cfg.sweep_faces]:
            grid, response = [], {}
            for au in tqdm(self.cfg.sweep_aus, desc=f"{self.name}: sweep {s.name}", leave=False):
                row, est, att = [], [], []
                for level in self.cfg.sweep_levels:
                    target = s.src.aus.copy()
                    target[au_index(au)] = level
                    e = edit_face(self.gen, s.image, s.src.face, s.src.aus, target, self.cfg.edit)
                    row.append(e.crop_out)
                    att.append(float(e.attention[self.crop_hull].mean()))
                    found = self.analyser.matching(e.image, s.src.face)
                    est.append(float(found.aus[au_index(au)]) if found is not None else None)
                grid.append(row)
                response[au] = {"requested": list(self.cfg.sweep_levels), "estimated": est,
                                "own": float(s.src.aus[au_index(au)]), "attention_mean_in_face": att}
            res[s.name] = response
            img = plots.labelled_grid(grid, [f"{v:g}" for v in self.cfg.sweep_levels],
                                      list(self.cfg.sweep_aus), tile=112)
            self._save(img, f"sweep_{s.name}")
            if self.presets:
                self._interpolation(s, self.presets[0])
        return res

    def _interpolation(self, s: Subject, preset) -> None:
        goal = preset.apply(s.src.aus)
        tiles, labels = [], []
        for t in np.linspace(0.0, 1.0, self.cfg.interp_steps):
            e = edit_face(self.gen, s.image, s.src.face, s.src.aus, (1 - t) * s.src.aus + t * goal,
                          self.cfg.edit)
            tiles.append(e.crop_out)
            labels.append(f"{t:.1f}")
        img = plots.labelled_grid([tiles], labels, [preset.name[:7]], tile=112)
        self._save(img, f"interp_{preset.name}_{s.name}")

    def _strip(self, s: Subject, e: FaceEdit, stem: str) -> None:
        tiles = [e.crop_in]
        labels = ["input"]
        if s.target_image is not None:
            tiles.append(warp_to_crop(s.target_image, crop_from_frame(s.target.face.landmarks, self.align),
                                      self.align.size))
            labels.append("real target")
        tiles += [e.crop_out, e.attention, e.color]
        labels += ["output", "A (1=keep)", "C"]
        self._save(plots.labelled_grid([tiles], labels, tile=128), stem)

    def _save(self, img: np.ndarray, stem: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)[-40:]
        path = self.out / f"{safe}_{stem}.png"
        plots.save_png(img, path)
        self.pictures.append(path.name)


# --------------------------------------------------------------------------------------------
# The report


def not_computed_entries(ident: Identity) -> list[dict]:
    out = []
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
    models = load_generators(cfg.models)
    ident = Identity(cfg.identity)
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
              "not_computed": not_computed_entries(ident), "models": [], "pictures": []}
    with StillAnalyser() as analyser:
        subjects, faces_info = analyse_inputs(cfg, analyser, ident)
        report["faces"] = faces_info
        if cfg.pairs:
            report["identity"]["reference"]["measured"] = measured_reference(subjects)
        for name, gen in models:
            ev = ModelEvaluator(name, gen, cfg, analyser, ident, presets, out)
            entry = {"name": name, "image_size": int(gen.image_size), "zero_edit": None,
                     "presets": {}, "pairs": None, "video": None, "sweeps": None}
            if subjects:
                entry["zero_edit"] = ev.zero_edit(subjects)
                for p in presets:
                    entry["presets"][p.name] = ev.preset(subjects, p)
                if cfg.pairs:
                    entry["pairs"] = ev.paired(subjects)
                entry["sweeps"] = ev.sweeps(subjects)
            if cfg.video is not None:
                from reenact.eval.video import evaluate_video

                entry["video"] = evaluate_video(name, gen, cfg, ident, presets, out, ev.pictures)
            report["models"].append(entry)
            report["pictures"] += ev.pictures
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
    _write_text(out / "report.json", json.dumps(data, indent=1, allow_nan=False) + "\n")
    from reenact.eval.markdown import render_markdown

    _write_text(out / "report.md", render_markdown(data))
