"""Per-model measurements on stills: zero edit, presets, pairs, sweeps, and their pictures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from reenact.aus.names import au_index
from reenact.eval import metrics as M
from reenact.eval import plots
from reenact.eval.config import EvalConfig
from reenact.eval.editing import Analysed, EditedFrame, StillAnalyser, edit_face
from reenact.eval.expression import Expression, emotions_for_preset, summarise
from reenact.eval.gallery import PresetGallery
from reenact.eval.identity import acd
from reenact.eval.stats import acd_stats, stats
from reenact.eval.subjects import Identity, Subject
from reenact.media.image import write_image
from reenact.tracking.align import AlignConfig, crop_from_frame, template_points, warp_to_crop

PAIR_CROP = AlignConfig(size=256)  # aligned region for paired PSNR/SSIM, independent of the model


class Collector:
    """Accumulates the figures of one kind of edit (zero edit, a preset, pairs)."""

    def __init__(self, emotions: tuple[str, ...] | None = None):
        self.requested, self.estimated, self.source = [], [], []
        self.acd, self.psnr, self.ssim, self.seam, self.found = [], [], [], [], []
        self.attention = []
        self.emotions, self.expression = emotions, []  # accepted labels; per-face probabilities

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
                "face_found_rate": float(np.mean(self.found)) if self.found else None,
                "expression": summarise(self.expression, self.emotions).as_dict() if self.expression else None}


class ModelEvaluator:
    """Runs every measurement of one generator on the analysed subjects."""

    def __init__(self, name: str, generator, cfg: EvalConfig, analyser: StillAnalyser,
                 ident: Identity, presets: list, out: Path, expression: Expression | None = None):
        self.name, self.gen, self.cfg = name, generator, cfg
        self.expression = expression
        self.gallery = PresetGallery()
        self.analyser, self.ident, self.presets, self.out = analyser, ident, presets, out
        self.pictures: list[str] = []
        self.align = generator.align
        self.crop_hull = M.face_mask(template_points(self.align), (self.align.size, self.align.size))

    # -- one edit, measured ---------------------------------------------------------------
    def _measure(self, col: Collector, s: Subject, target: np.ndarray,
                 compare_to: np.ndarray | None = None) -> tuple[EditedFrame, Analysed | None]:
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
        if self.expression is not None and found is not None:
            p = self.expression.read(e.image, found.face.landmarks)
            if p is not None:
                col.expression.append(p)
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
        col = Collector(emotions_for_preset(preset.name))
        for k, s in enumerate(tqdm(subjects, desc=f"{self.name}: {preset.name}", unit="face", leave=False)):
            e, _ = self._measure(col, s, preset.apply(s.src.aus))
            self._gallery_add(s, e, preset.name)
            if k < self.cfg.strips and not self.cfg.pairs and preset is self.presets[0]:
                self._strip(s, e, f"strip_{preset.name}_{s.name}")
        out = col.summary()
        if out["attention"] and out["attention"]["warning"]:
            out["warning"] = out["attention"]["warning"]
        return out

    def paired(self, subjects: list[Subject]) -> dict:
        """Neutral edited toward the AUs of the same person's real smile, compared with it."""
        col, base = Collector(("happy",)), Collector()  # pairs: the target is a smile (London)
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

    def _gallery_add(self, s: Subject, e: EditedFrame, column: str) -> None:
        """The edit's crop and close-ups (at the input's landmarks, so that every column shows
        the same region); the input and real target first, once per face."""
        lm = s.src.face.landmarks
        if s.name not in self.gallery.faces and len(self.gallery.faces) >= self.cfg.gallery_faces:
            return
        if s.name not in self.gallery.faces:
            self.gallery.add(s.name, "input", e.crop_in, s.image, lm)
            if s.target_image is not None:
                real = warp_to_crop(s.target_image, crop_from_frame(s.target.face.landmarks, self.align),
                                    self.align.size)
                self.gallery.add(s.name, "real target", real, s.target_image, s.target.face.landmarks,
                                 scale_from=lm)
        self.gallery.add(s.name, column, e.crop_out, e.image, lm)

    def save_gallery(self) -> None:
        """Every preset on every face: MODEL_presets_{faces,mouths,eyes}.png."""
        for stem, img in self.gallery.grids().items():
            self._save(img, stem)

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

    def _strip(self, s: Subject, e: EditedFrame, stem: str) -> None:
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
        write_image(img, path)
        self.pictures.append(path.name)
