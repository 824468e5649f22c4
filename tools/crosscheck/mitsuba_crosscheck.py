#!/usr/bin/env python3
"""Cross-check Streamtracer against Mitsuba 3 on the same scenes.

For every test scene this script

1. writes the scene in Streamtracer's JSON format and renders it with
   `streamtracer render` (a tone-mapped 8-bit sRGB PNG: the binary has no linear
   output);
2. builds the equivalent Mitsuba scene with `mi.load_dict` and renders it with the
   `scalar_rgb` variant and the `path` integrator, in several independent runs
   (different seeds) so that the Monte Carlo noise of every statistic can be
   measured;
3. passes Mitsuba's linear radiance through an exact Python copy of Streamtracer's
   film transform (render-core/src/film.rs: exposure 1, the sRGB code value computed
   as `srgb_code` does, from a cubic fit per binary segment, rounded to 8 bits), so
   both images went through the same transform;
4. decodes both 8-bit images with the sRGB curve (the same decode for both, so the
   comparison stays valid) and compares per-channel means over the whole image and
   over a grid of tiles, printing the relative difference, its standard error and
   the tolerance.

The exit status is 1 if any comparison exceeds its tolerance (or the film transform
check fails), 0 otherwise. See README.md in this folder for the mapping between the
two renderers and the reasoning behind the tolerances.

Length: about 630 lines: both renderers' versions of every scene, side by side, so
that they can be read against each other.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------
# Streamtracer's film transform (render-core/src/film.rs), replicated.
# ---------------------------------------------------------------------------------

def srgb_to_linear(v):
    """The sRGB decoding curve on [0, 1] (film.rs: srgb_to_linear), in float64."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


# film.rs computes each code value arithmetically (srgb_code_unrounded): the linear
# part below LINEAR_LIMIT plus the power part, 2^(-k/2.4) per binary segment times a
# cubic fit of m^(1/2.4) on the mantissa. Its constants, as f32:
LINEAR_LIMIT = np.float32(0.0031308)
LINEAR_SCALE = np.float32(3294.6)
POWER_OFFSET = np.float32(14.025) + LINEAR_SCALE * LINEAR_LIMIT
ROOT_FIT = [np.float32(c) for c in (0.45901588, 0.6929694, -0.17629397, 0.024393195)]
SEGMENT_SCALE = np.array([269.025, 201.54103, 150.98518, 113.11108, 84.737564, 63.481445,
                          47.55735, 35.627758, 26.69066, 19.995403], dtype=np.float32)


def fma(a, b, c):
    """f32 fused multiply-add: the product of two f32 is exact in f64, and the sum
    rounded to f64 and then to f32 is the fused result but for double-rounding ties."""
    a, b, c = (np.asarray(x, dtype=np.float32).astype(np.float64) for x in (a, b, c))
    return (a * b + c).astype(np.float32)


def film_transform(radiance, exposure=1.0):
    """Linear radiance (H, W, 3) to the 8-bit sRGB codes Streamtracer's film writes.

    film.rs: write_rgb8 scales by exposure (the offline renderer never changes it from
    1.0) and computes the code value of each channel as srgb_code does: the clamped
    linear and power parts added, rounded to nearest (ties to even), saturated to
    [0, 255] with NaN going to 0.
    """
    v = np.asarray(radiance, dtype=np.float32) * np.float32(exposure)
    v = np.nan_to_num(v, nan=0.0, posinf=np.float32(3.0e38), neginf=np.float32(-3.0e38))
    linear = np.where(LINEAR_LIMIT < v, LINEAR_LIMIT, v).astype(np.float32)
    power = np.minimum(np.maximum(v, LINEAR_LIMIT), np.float32(1.0)).astype(np.float32)
    bits = power.view(np.uint32)
    segment = SEGMENT_SCALE[(127 - (bits >> 23)).astype(np.int64)]
    m = ((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000)).view(np.float32)
    c0, c1, c2, c3 = ROOT_FIT
    p = fma(fma(fma(c3, m, c2), m, c1), m, c0)
    code = fma(linear, LINEAR_SCALE, fma(segment, p, -POWER_OFFSET))
    return np.clip(np.rint(code), 0, 255).astype(np.uint8)


def decode(codes):
    """8-bit sRGB codes to display-linear values in [0, 1]."""
    return srgb_to_linear(np.asarray(codes, dtype=np.float64) / 255.0)


# ---------------------------------------------------------------------------------
# Test scenes, described once and exported to both renderers.
# ---------------------------------------------------------------------------------

WHITE, RED, GREEN = (0.73, 0.73, 0.73), (0.65, 0.05, 0.05), (0.12, 0.45, 0.15)
BLUE = (0.15, 0.25, 0.70)
LIGHT_RADIANCE = (17.0, 14.0, 10.0)

# The room of Scene::cornell_box (render-core/src/generate.rs): x in [-1, 1],
# y in [0, 2], z in [-1, 1], open towards the camera at z = +1. Corners are
# counter-clockwise seen from the front, which faces into the room.
ROOM = [
    ("floor", "white", [(-1, 0, 1), (1, 0, 1), (1, 0, -1), (-1, 0, -1)]),
    ("ceiling", "white", [(-1, 2, -1), (1, 2, -1), (1, 2, 1), (-1, 2, 1)]),
    ("back wall", "white", [(-1, 0, -1), (1, 0, -1), (1, 2, -1), (-1, 2, -1)]),
    ("left wall", "red", [(-1, 0, 1), (-1, 0, -1), (-1, 2, -1), (-1, 2, 1)]),
    ("right wall", "green", [(1, 0, -1), (1, 0, 1), (1, 2, 1), (1, 2, -1)]),
]


def ceiling_light(half, material="light"):
    """A square light 2*half wide, 2 mm below the ceiling, emitting downwards only
    (its front side)."""
    return ("light", material, [(-half, 1.998, -half), (half, 1.998, -half),
                                (half, 1.998, half), (-half, 1.998, half)])


CAMERA = {"eye": (0.0, 1.0, 3.9), "target": (0.0, 1.0, 0.0), "up": (0.0, 1.0, 0.0), "fov": 38.0}

BASE_MATERIALS = {
    "white": {"type": "diffuse", "albedo": WHITE},
    "red": {"type": "diffuse", "albedo": RED},
    "green": {"type": "diffuse", "albedo": GREEN},
    "blue": {"type": "diffuse", "albedo": BLUE},
    "light": {"type": "emissive", "radiance": LIGHT_RADIANCE},
    # A light covering most of the ceiling, dimmer so that nothing else clips.
    "big light": {"type": "emissive", "radiance": (2.0, 2.0, 2.0)},
    # Exact mappings only: smooth glass of the same IOR in air (no tint) ...
    "glass": {"type": "dielectric", "ior": 1.5, "roughness": 0.0},
    # ... and a rough conductor whose Schlick Fresnel is identically 1 (color = 1),
    # which is Mitsuba's `material: none` (eta 0, k 1: 100 % reflectance). The only
    # remaining difference is Smith masking: height-correlated G2 here, separable
    # G1 * G1 in Mitsuba; see README.md for its (small) size.
    "white metal": {"type": "conductor", "color": (1.0, 1.0, 1.0), "roughness": 0.5},
}


def make_scene(name, spheres, max_bounces, note, light=ceiling_light(0.3)):
    return {
        "name": name,
        "note": note,
        "camera": CAMERA,
        "materials": BASE_MATERIALS,
        "quads": ROOM + [light],
        "spheres": spheres,  # (name, material, center, radius)
        "environment": (0.0, 0.0, 0.0),
        "max_bounces": max_bounces,
    }


DIFFUSE_SPHERES = [
    ("white ball", "white", (0.45, 0.4, -0.35), 0.4),
    ("blue ball", "blue", (0.35, 0.2, 0.55), 0.2),
]
GLASS_METAL_SPHERES = [
    ("glass ball", "glass", (-0.45, 0.35, 0.25), 0.35),
    ("metal ball", "white metal", (0.45, 0.4, -0.35), 0.4),
    ("blue ball", "blue", (0.35, 0.2, 0.55), 0.2),
]

SCENES = {
    # 64 bounces (the most Streamtracer allows): what happens at the path-length
    # limit is then far below the noise, and Russian roulette ends paths anyway.
    "diffuse": make_scene(
        "diffuse", DIFFUSE_SPHERES, 64, "diffuse room and spheres, area light"),
    "glass-metal": make_scene(
        "glass-metal", GLASS_METAL_SPHERES, 64,
        "smooth glass, rough white conductor, diffuse; area light"),
    # Short paths: how the path-length limit is counted matters here.
    "diffuse-1bounce": make_scene(
        "diffuse-1bounce", DIFFUSE_SPHERES, 1, "direct lighting only (max_bounces 1)"),
    "diffuse-2bounce": make_scene(
        "diffuse-2bounce", DIFFUSE_SPHERES, 2, "max_bounces 2"),
    # A large light: BSDF sampling then finds a good share of the direct light, so
    # the path-length limit's handling of multiple importance sampling shows.
    "big-light": make_scene(
        "big-light", DIFFUSE_SPHERES, 64, "diffuse, 1.6 m x 1.6 m ceiling light",
        light=ceiling_light(0.8, "big light")),
    "big-light-1bounce": make_scene(
        "big-light-1bounce", DIFFUSE_SPHERES, 1, "diffuse, 1.6 m light, max_bounces 1",
        light=ceiling_light(0.8, "big light")),
    "big-light-2bounce": make_scene(
        "big-light-2bounce", DIFFUSE_SPHERES, 2, "diffuse, 1.6 m light, max_bounces 2",
        light=ceiling_light(0.8, "big light")),
    # 8 is the default of scene files and of the built-in scene.
    "big-light-8bounce": make_scene(
        "big-light-8bounce", DIFFUSE_SPHERES, 8, "diffuse, 1.6 m light, max_bounces 8",
        light=ceiling_light(0.8, "big light")),
}
# big-light-1bounce guards the path-length limit, which the integrator once got
# wrong (README.md, "Findings").
DEFAULT_SCENES = ["diffuse", "glass-metal", "big-light", "big-light-1bounce"]


def mitsuba_max_depth(max_bounces):
    """Streamtracer counts scattering events ("bounces"); Mitsuba's max_depth counts
    path segments (1 = emission seen directly, 2 = direct lighting). Paths with
    `max_bounces` scattering events have `max_bounces + 1` segments."""
    return max_bounces + 1


def vec(v):
    return [float(x) for x in v]


def to_streamtracer(scene):
    """The scene in Streamtracer's JSON format (serde model in render-core/src/scene.rs)."""
    names = list(scene["materials"])
    materials = []
    for n in names:
        m = scene["materials"][n]
        if m["type"] == "diffuse":
            materials.append({"type": "diffuse", "albedo": vec(m["albedo"])})
        elif m["type"] == "emissive":
            materials.append({"type": "emissive", "radiance": vec(m["radiance"])})
        elif m["type"] == "dielectric":
            materials.append({"type": "dielectric", "ior": m["ior"],
                              "roughness": m["roughness"], "tint": [1.0, 1.0, 1.0]})
        elif m["type"] == "conductor":
            materials.append({"type": "conductor", "color": vec(m["color"]),
                              "roughness": m["roughness"]})
        else:
            raise ValueError(f"unknown material type {m['type']}")
    meshes, objects = [], []
    for name, mat, corners in scene["quads"]:
        objects.append({"name": name, "material": names.index(mat),
                        "shape": {"type": "mesh", "mesh": len(meshes)}})
        meshes.append({"name": name, "positions": [vec(c) for c in corners],
                       "indices": [[0, 1, 2], [0, 2, 3]]})
    for name, mat, center, radius in scene["spheres"]:
        objects.append({"name": name, "material": names.index(mat),
                        "shape": {"type": "sphere", "center": vec(center), "radius": radius}})
    cam = scene["camera"]
    return {
        "camera": {"eye": vec(cam["eye"]), "target": vec(cam["target"]),
                   "up": vec(cam["up"]), "fov": cam["fov"]},
        "materials": materials,
        "meshes": meshes,
        "objects": objects,
        "environment": {"type": "constant", "radiance": vec(scene["environment"])},
        "max_bounces": scene["max_bounces"],
    }


def mitsuba_bsdf(m):
    """The Mitsuba BSDF equivalent to one of our materials; only exact mappings."""
    rgb = lambda c: {"type": "rgb", "value": vec(c)}
    if m["type"] == "diffuse":
        # Our diffuse BSDF reflects on both sides; Mitsuba's only on the front.
        return {"type": "twosided", "material": {"type": "diffuse", "reflectance": rgb(m["albedo"])}}
    if m["type"] == "emissive":
        # Our emitters do not reflect. Without a BSDF Mitsuba would attach a grey
        # diffuse one, so give it a black one.
        return {"type": "diffuse", "reflectance": rgb((0, 0, 0))}
    if m["type"] == "dielectric":
        if m["roughness"] != 0.0:
            raise ValueError("only smooth dielectrics map exactly")
        # ext_ior must be given: Mitsuba's default exterior is air (1.000277).
        return {"type": "dielectric", "int_ior": float(m["ior"]), "ext_ior": 1.0}
    if m["type"] == "conductor":
        if tuple(m["color"]) != (1.0, 1.0, 1.0):
            raise ValueError("Schlick Fresnel towards a colour < 1 has no exact Mitsuba "
                             "equivalent; only color = 1 (Fresnel = 1) maps exactly")
        if m["roughness"] == 0.0:
            return {"type": "conductor", "material": "none"}
        # bsdf.rs: alpha = roughness^2; GGX, visible-normal sampling.
        return {"type": "roughconductor", "material": "none", "distribution": "ggx",
                "alpha": float(m["roughness"]) ** 2, "sample_visible": True}
    raise ValueError(f"unknown material type {m['type']}")


def to_mitsuba(mi, scene, width, height, spp):
    """The scene as a loaded Mitsuba scene."""
    cam = scene["camera"]
    d = {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": mitsuba_max_depth(scene["max_bounces"])},
        "sensor": {
            "type": "perspective",
            # camera.rs: `fov` is the vertical field of view in degrees.
            "fov": float(cam["fov"]),
            "fov_axis": "y",
            "to_world": mi.ScalarTransform4f().look_at(
                origin=vec(cam["eye"]), target=vec(cam["target"]), up=vec(cam["up"])),
            "sampler": {"type": "independent", "sample_count": spp},
            # renderer.rs: one uniformly jittered sample per pixel per pass, averaged
            # with equal weights: a box filter one pixel wide.
            "film": {"type": "hdrfilm", "width": width, "height": height,
                     "rfilter": {"type": "box"}, "pixel_format": "rgb",
                     "component_format": "float32"},
        },
    }
    materials = scene["materials"]
    for i, (name, mat, corners) in enumerate(scene["quads"]):
        # The same two triangles as ours; Mitsuba's face normal is
        # cross(p1 - p0, p2 - p0) as ours is, and its area emitter shines on that side
        # only, as our emissive triangles do.
        props = mi.Properties()
        props["bsdf"] = mi.load_dict(mitsuba_bsdf(materials[mat]))
        if materials[mat]["type"] == "emissive":
            props["emitter"] = mi.load_dict(
                {"type": "area", "radiance": {"type": "rgb", "value": vec(materials[mat]["radiance"])}})
        mesh = mi.Mesh(f"quad{i}", 4, 2, props=props)
        params = mi.traverse(mesh)
        params["vertex_positions"] = np.array(corners, dtype=np.float32).ravel()
        params["faces"] = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32).ravel()
        params.update()
        d[f"quad{i}"] = mesh
    for i, (name, mat, center, radius) in enumerate(scene["spheres"]):
        if materials[mat]["type"] == "emissive":
            raise ValueError("emissive spheres are not mapped")
        d[f"sphere{i}"] = {"type": "sphere", "center": vec(center), "radius": float(radius),
                           "bsdf": mitsuba_bsdf(materials[mat])}
    if max(scene["environment"]) > 0.0:
        d["environment"] = {"type": "constant",
                            "radiance": {"type": "rgb", "value": vec(scene["environment"])}}
    return mi.load_dict(d)


# ---------------------------------------------------------------------------------
# Rendering.
# ---------------------------------------------------------------------------------

def find_binary(arg):
    if arg:
        return Path(arg)
    candidates = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "streamtracer")
    candidates.append(REPO / "target" / "release" / "streamtracer")
    for c in candidates:
        if c.exists():
            return c
    sys.exit("streamtracer binary not found; build it with `cargo build --release -p "
             "streamtracer` and/or pass --bin PATH")


def read_png(mi, path):
    """The raw 8-bit codes of a PNG (no colour conversion)."""
    img = np.array(mi.Bitmap(str(path)))
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, img.shape
    return img


def render_ours(binary, scene_json, path_png, spp, width, height, threads):
    path_json = path_png.with_suffix(".json")
    path_json.write_text(json.dumps(scene_json, indent=1))
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    # Unbiased: no cap on indirect light, no denoising.
    cmd = [str(binary), "render", "--scene", str(path_json), "--spp", str(spp),
           "--width", str(width), "--height", str(height), "--out", str(path_png),
           "--indirect-clamp", "0", "--denoise", "off"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"streamtracer failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    # "wrote X (WxH, N spp in T s, ...)": make sure no time limit cut the render short.
    m = re.search(r"(\d+) spp in", out.stdout + out.stderr)
    if m and int(m.group(1)) != spp:
        sys.exit(f"streamtracer rendered {m.group(1)} spp, asked for {spp}")
    return elapsed


def render_mitsuba(mi, scene, width, height, spp_per_run, runs):
    """`runs` independent renders (linear radiance, (runs, H, W, 3)) and the time taken."""
    s = to_mitsuba(mi, scene, width, height, spp_per_run)
    # In scalar mode Mitsuba seeds the sampler of each pixel with the render's seed
    # plus the pixel's index, so runs with seeds 1, 2, 3 ... reuse each other's random
    # streams one pixel over and their region means are strongly correlated (their
    # spread was measured at 0.3 of what independent runs give). Seeds a large odd
    # prime apart do not collide that way; `compare` checks the runs' spread.
    stride = 1_000_003
    start = time.perf_counter()
    images = [np.array(mi.render(s, seed=(r + 1) * stride, spp=spp_per_run), dtype=np.float64)
              for r in range(runs)]
    return np.stack(images), time.perf_counter() - start


# ---------------------------------------------------------------------------------
# Statistics.
# ---------------------------------------------------------------------------------

def sphere_mask(camera, width, height, center, radius):
    """Pixels whose centre ray (camera.rs conventions) meets the sphere shrunk by 3 %,
    so that no pixel straddles its outline. Whatever hides part of the sphere is in
    both images alike; this is only a region of the picture."""
    eye, target, up = (np.array(camera[k], dtype=np.float64) for k in ("eye", "target", "up"))
    fwd = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    half_h = math.tan(math.radians(camera["fov"]) / 2)
    half_w = half_h * width / height
    y, x = np.mgrid[0:height, 0:width] + 0.5
    d = (fwd + right * ((2 * x / width - 1) * half_w)[..., None]
         + up * ((1 - 2 * y / height) * half_h)[..., None])
    d /= np.linalg.norm(d, axis=2, keepdims=True)
    oc = eye - np.array(center, dtype=np.float64)
    b = (d * oc).sum(axis=2)
    return b * b - (oc @ oc - (0.97 * radius) ** 2) > 0


def regions(scene, height, width, grid):
    """(name, boolean mask) for the whole image, each tile of a grid x grid split, and
    the outline of each sphere."""
    yield "image", np.ones((height, width), bool)
    ys = np.linspace(0, height, grid + 1).round().astype(int)
    xs = np.linspace(0, width, grid + 1).round().astype(int)
    for r in range(grid):
        for c in range(grid):
            m = np.zeros((height, width), bool)
            m[ys[r]:ys[r + 1], xs[c]:xs[c + 1]] = True
            yield f"tile {r},{c}", m
    for name, _, center, radius in scene["spheres"]:
        yield name, sphere_mask(scene["camera"], width, height, center, radius)


def noise_level(img):
    """A robust per-pixel noise scale: the median absolute deviation of each pixel from
    the mean of its four neighbours, over pixels away from the clamp. Signal edges add
    a little; the ratio between two images of the same scene is what is used."""
    core = img[1:-1, 1:-1]
    nb = (img[:-2, 1:-1] + img[2:, 1:-1] + img[1:-1, :-2] + img[1:-1, 2:]) / 4.0
    res = (core - nb)[core < 0.9]
    return 1.4826 * np.median(np.abs(res))


def compare(scene, ours_codes, mi_runs, spp_ours, spp_run, grid, tol_image, tol_tile, floor):
    """Rows of the comparison table and whether all passed.

    ours_codes: our PNG's codes. mi_runs: Mitsuba's independent runs, linear.
    """
    runs = mi_runs.shape[0]
    mi_mean = mi_runs.mean(axis=0)
    ours = decode(ours_codes)
    mits = decode(film_transform(mi_mean))
    # Noise is measured on values clamped as the film clamps them.
    clamped_runs = np.clip(mi_runs, 0.0, 1.0)
    # Our per-sample variance relative to Mitsuba's: noise of our image against that of
    # a Mitsuba image with as many samples (the mean of spp_ours / spp_run runs).
    group = max(1, min(runs, spp_ours // spp_run))
    mi_equal = decode(film_transform(mi_runs[:group].mean(axis=0)))
    noise_ratio = noise_level(ours) / max(noise_level(mi_equal), 1e-12)
    # The variance of one run's value at each pixel, from the spread between runs.
    # Pixels are independent within a run (in both renderers every pixel sample has
    # its own random stream), so a region mean's variance is the sum over its pixels
    # divided by the count squared. This uses every pixel, so it is a far steadier
    # estimate than the spread of a handful of region means.
    var_px = clamped_runs.var(axis=0, ddof=1)
    rows, ok, noisy = [], True, False
    spread_ratios = []
    h, w = ours.shape[:2]
    for name, m in regions(scene, h, w, grid):
        a = ours[m].mean(axis=0)
        b = mits[m].mean(axis=0)
        s_run = np.sqrt(var_px[m].sum(axis=0)) / m.sum()
        # Cross-check of independence between runs: the observed spread of the runs'
        # region means against the prediction from pixel variances (about 1 if the
        # runs are independent; much less if they share random numbers).
        per_run = clamped_runs[:, m].mean(axis=1)
        spread_ratios.append(per_run.std(axis=0, ddof=1) / np.maximum(s_run, 1e-12))
        se_mi = s_run / math.sqrt(runs)
        se_ours = noise_ratio * s_run * math.sqrt(spp_run / spp_ours)
        denom = np.maximum(b, floor)
        rel = (a - b) / denom
        se_rel = np.sqrt(se_mi ** 2 + se_ours ** 2) / denom
        tol = tol_image if name == "image" else tol_tile
        passed = bool(np.all(np.abs(rel) <= tol))
        ok &= passed
        rows.append((name, a, b, rel, se_rel, tol, passed))
        noisy |= bool(np.any(4 * se_rel > tol))
    spread_ratio = float(np.median(spread_ratios))
    # What the film transform itself does to Mitsuba's mean, against a plain clamp
    # (the transform is applied to both images, so this mostly cancels; reported to
    # show that it is small).
    film_bias = mits.mean(axis=(0, 1)) / np.clip(mi_mean, 0, 1).mean(axis=(0, 1)) - 1.0
    return rows, ok, noisy, noise_ratio, film_bias, spread_ratio


def print_table(rows):
    fmt3 = lambda v, f: " ".join(f.format(x) for x in v)
    print(f"  {'region':<11} {'ours (R G B)':<22} {'mitsuba (R G B)':<22} "
          f"{'rel. diff % (R G B)':<23} {'1 SE % (R G B)':<17} {'tol %':>5}  result")
    for name, a, b, rel, se, tol, passed in rows:
        print(f"  {name:<11} {fmt3(a, '{:.4f}'):<22} {fmt3(b, '{:.4f}'):<22} "
              f"{fmt3(rel * 100, '{:+6.2f}'):<23} {fmt3(se * 100, '{:4.2f}'):<17} "
              f"{tol * 100:5.1f}  {'ok' if passed else 'FAIL'}")


# ---------------------------------------------------------------------------------
# The film transform check: our Python copy against the binary.
# ---------------------------------------------------------------------------------

def check_film(mi, binary, workdir, threads):
    """Renders an empty scene under constant skies of known radiance (every sample of
    every pixel is exactly that radiance) and checks that our Python film transform
    gives the very codes the binary wrote."""
    values = [(0.5, 0.2, 0.01), (0.0031, 0.0032, 0.9), (0.05, 2.0, 0.73)]
    ok = True
    for i, v in enumerate(values):
        scene = {"camera": {"eye": [0, 0, 0], "target": [0, 0, -1], "up": [0, 1, 0], "fov": 40.0},
                 "environment": {"type": "constant", "radiance": list(v)}, "max_bounces": 1}
        png = workdir / f"film-check-{i}.png"
        render_ours(binary, scene, png, 1, 4, 4, threads)
        got = read_png(mi, png)
        want = film_transform(np.array(v, dtype=np.float32)[None, None, :])
        if not np.all(got == want):
            print(f"film check: radiance {v}: binary wrote {got[0, 0]}, the Python copy "
                  f"gives {want[0, 0]}")
            ok = False
    print(f"film transform check (Python copy vs binary, {len(values)} skies): "
          f"{'ok' if ok else 'FAIL'}")
    return ok


# ---------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", help="streamtracer binary (default: $CARGO_TARGET_DIR or "
                    "target/release/streamtracer)")
    ap.add_argument("--scenes", default=",".join(DEFAULT_SCENES),
                    help=f"comma-separated, from: {', '.join(SCENES)} (default: %(default)s)")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--spp", type=int, default=256, help="samples per pixel for ours")
    ap.add_argument("--mitsuba-spp", type=int, default=512,
                    help="total samples per pixel for Mitsuba, over all runs")
    ap.add_argument("--runs", type=int, default=8,
                    help="independent Mitsuba runs (for the noise estimate)")
    ap.add_argument("--grid", type=int, default=3, help="tiles per side")
    ap.add_argument("--tol-image", type=float, default=0.01,
                    help="relative tolerance on whole-image means (default 1%%)")
    ap.add_argument("--tol-tile", type=float, default=0.02,
                    help="relative tolerance on the means of tiles and sphere outlines "
                    "(default 2%%)")
    ap.add_argument("--floor", type=float, default=0.05,
                    help="differences in channels darker than this (display-linear; sRGB "
                    "code 63) are taken relative to it, so near-black channels are held "
                    "to an absolute tolerance of tol * floor (default %(default)s)")
    ap.add_argument("--threads", type=int, default=0, help="threads per renderer (0: all)")
    ap.add_argument("--out-dir", help="keep scenes and images here (default: a temporary "
                    "directory, removed)")
    args = ap.parse_args()

    import mitsuba as mi
    mi.set_variant("scalar_rgb")
    if args.threads:
        import drjit as dr
        dr.set_thread_count(args.threads)

    if args.mitsuba_spp % args.runs:
        sys.exit("--mitsuba-spp must be a multiple of --runs")
    spp_run = args.mitsuba_spp // args.runs
    names = [s for s in args.scenes.split(",") if s]
    unknown = [s for s in names if s not in SCENES]
    if unknown:
        sys.exit(f"unknown scenes {unknown}; known: {list(SCENES)}")

    binary = find_binary(args.bin)
    tmp = None
    if args.out_dir:
        workdir = Path(args.out_dir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="st-xcheck-")
        workdir = Path(tmp.name)

    print(f"streamtracer: {binary}")
    print(f"mitsuba {mi.__version__} (scalar_rgb, path integrator)")
    print(f"{args.width}x{args.height}, ours {args.spp} spp, Mitsuba {args.runs} runs x "
          f"{spp_run} spp = {args.mitsuba_spp} spp; tolerances: image {args.tol_image:.1%}, "
          f"tiles {args.tol_tile:.1%}")
    all_ok = check_film(mi, binary, workdir, args.threads)
    total_start = time.perf_counter()
    for n in names:
        scene = SCENES[n]
        png = workdir / f"{n}-streamtracer.png"
        t_ours = render_ours(binary, to_streamtracer(scene), png, args.spp, args.width,
                             args.height, args.threads)
        runs, t_mi = render_mitsuba(mi, scene, args.width, args.height, spp_run, args.runs)
        ours_codes = read_png(mi, png)
        if args.out_dir:
            mi.Bitmap(runs.mean(axis=0).astype(np.float32)).write(str(workdir / f"{n}-mitsuba.exr"))
            mi.Bitmap(film_transform(runs.mean(axis=0))).write(str(workdir / f"{n}-mitsuba.png"))
        rows, ok, noisy, noise_ratio, film_bias, spread_ratio = compare(
            scene, ours_codes, runs, args.spp, spp_run, args.grid, args.tol_image,
            args.tol_tile, args.floor)
        all_ok &= ok
        print()
        print(f"scene {n}: {scene['note']}; max_bounces {scene['max_bounces']} <-> Mitsuba "
              f"max_depth {mitsuba_max_depth(scene['max_bounces'])}")
        print(f"  render time: ours {t_ours:.1f} s, Mitsuba {t_mi:.1f} s; noise of ours / "
              f"Mitsuba at equal spp: {noise_ratio:.2f}; film transform bias on Mitsuba's "
              f"mean: {' '.join(f'{x:+.3%}' for x in film_bias)}")
        print(f"  Mitsuba runs' spread / prediction from pixel variances (median over "
              f"regions, ~1 if the runs are independent): {spread_ratio:.2f}")
        if spread_ratio < 0.6:
            print("  WARNING: Mitsuba's runs look correlated; the standard errors below "
                  "are not trustworthy")
        print_table(rows)
        # If the renderers agree, differences over standard errors are roughly
        # standard normal: an rms near 1 says the errors are all noise (and that
        # the standard errors are right).
        z = np.concatenate([rel / np.maximum(se, 1e-12) for _, _, _, rel, se, _, _ in rows])
        print(f"  differences in standard errors: rms {np.sqrt(np.mean(z ** 2)):.2f}, "
              f"largest {np.max(np.abs(z)):.1f} (over {z.size} comparisons)")
        if noisy:
            print("  WARNING: some tolerance is under 4 standard errors: the noise is too "
                  "high for it to be a sharp test (raise --spp / --mitsuba-spp)")
        print(f"  => {'ok' if ok else 'FAIL'}")
    print()
    print(f"total render time {time.perf_counter() - total_start:.0f} s; "
          f"{'all comparisons within tolerance' if all_ok else 'SOME COMPARISONS FAILED'}")
    if args.out_dir:
        print(f"images and scenes in {workdir}")
    if tmp:
        tmp.cleanup()
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
