"""The shape of report.json, as a small JSON Schema, and a validator for the subset it uses.

The subset: "type" (a name or a list of names), "properties", "required",
"additionalProperties" (a schema applied to keys not in "properties"), "items", "enum". No
dependency on the jsonschema package. Non-finite floats are written as the strings "inf",
"-inf" and "nan" (JSON has no such numbers): the "figure" type below accepts them.
"""
from __future__ import annotations

import math
from typing import Any

FIGURE = {"type": ["number", "string", "null"]}
STATS = {"type": "object", "required": ["mean", "count"],
         "properties": {"mean": FIGURE, "median": FIGURE, "std": FIGURE, "min": FIGURE,
                        "max": FIGURE, "count": {"type": "integer"}}}
NOT_COMPUTED = {"type": "object", "required": ["metric", "reason"],
                "properties": {"metric": {"type": "string"}, "reason": {"type": "string"},
                               "install": {"type": ["string", "null"]}}}
AU_DIST = {"type": "object", "required": ["per_au", "mae", "l2", "count"],
           "properties": {"per_au": {"type": "object", "additionalProperties": FIGURE},
                          "bias": {"type": "object", "additionalProperties": FIGURE},
                          "mae": FIGURE, "l2": FIGURE, "count": {"type": "integer"}}}
MAYBE_STATS = {"type": ["object", "null"]}
READING = {"type": ["object", "null"], "required": ["emotions", "count", "share", "mean_probability"],
           "properties": {"count": {"type": "integer"}, "share": FIGURE, "mean_probability": FIGURE,
                          "mean_per_label": {"type": "object", "additionalProperties": FIGURE}}}
EDIT_BLOCK = {"type": "object", "required": ["count", "au_distance"],
              "properties": {"count": {"type": "integer"},
                             "au_distance": {"type": ["object", "null"]},
                             "acd": MAYBE_STATS, "psnr": MAYBE_STATS, "ssim": MAYBE_STATS,
                             "attention": MAYBE_STATS, "seam_excess": MAYBE_STATS,
                             "face_found_rate": FIGURE, "expression": READING}}
MODEL = {"type": "object", "required": ["name", "image_size", "zero_edit", "presets"],
         "properties": {"name": {"type": "string"}, "image_size": {"type": "integer"},
                        "zero_edit": {"type": ["object", "null"]},
                        "presets": {"type": "object", "additionalProperties": EDIT_BLOCK},
                        "pairs": {"type": ["object", "null"]},
                        "video": {"type": ["object", "null"]}}}
AGREEMENT = {"type": "object", "required": ["comparable"],
             "properties": {"comparable": {"type": "boolean"}, "output_max": FIGURE,
                            "output_mean": FIGURE, "output_psnr": {"type": ["object", "number", "string"]},
                            "attention_max": FIGURE, "attention_mean": FIGURE,
                            "color_max": FIGURE, "color_mean": FIGURE, "frame_max": FIGURE,
                            "count": {"type": "integer"}}}
REPORT_SCHEMA = {
    "type": "object",
    "required": ["format", "version", "inputs", "identity", "models", "not_computed", "pictures"],
    "properties": {
        "format": {"enum": ["reenact-eval"]},
        "version": {"type": "integer"},
        "created": {"type": "string"},
        "inputs": {"type": "object", "required": ["faces", "pairs"]},
        "identity": {"type": "object", "required": ["computed", "reference"],
                     "properties": {"computed": {"type": "boolean"},
                                    "reference": {"type": "object",
                                                  "required": ["same_person", "different_people", "note"]}}},
        "faces": {"type": ["object", "null"]},
        "expression": {"type": "object", "required": ["computed", "reason"],
                       "properties": {"computed": {"type": "boolean"},
                                      "reference": {"type": ["object", "null"],
                                                    "properties": {"input": READING,
                                                                   "real_target": READING}}}},
        "models": {"type": "array", "items": MODEL},
        "agreement": {"type": ["object", "null"], "required": ["reference", "target", "models"],
                      "properties": {"models": {"type": "object",
                                                "additionalProperties": AGREEMENT}}},
        "not_computed": {"type": "array", "items": NOT_COMPUTED},
        "pictures": {"type": "array", "items": {"type": "string"}},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validate(obj: Any, schema: dict = REPORT_SCHEMA, path: str = "$") -> list[str]:
    """Every violation of ``schema`` in ``obj``, as "path: problem" lines (empty: valid)."""
    errors: list[str] = []
    if "enum" in schema and obj not in schema["enum"]:
        errors.append(f"{path}: {obj!r} is not one of {schema['enum']}")
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(obj, n) for n in names):
            return errors + [f"{path}: expected {' or '.join(names)}, got {type(obj).__name__}"]
    if isinstance(obj, dict):
        for key in schema.get("required", []):
            if key not in obj:
                errors.append(f"{path}: missing key {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in obj.items():
            sub = props.get(key, extra)
            if isinstance(sub, dict):
                errors += validate(value, sub, f"{path}.{key}")
    if isinstance(obj, list) and "items" in schema:
        for i, value in enumerate(obj):
            errors += validate(value, schema["items"], f"{path}[{i}]")
    return errors


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays to Python, non-finite floats to strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj
