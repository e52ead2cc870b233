"""Procedural household objects and vehicles: monitor, lamp, mug, cup, vase, bottle, airplane, rocket, car.

Overlaps are intended here too: mug and tumbler differ only by the handle, vase and bottle are both lathed bodies
with a neck, a table lamp's base can be a vase, a rocket is a bottle-like body with fins, an airplane's tail fins
are small wings. Units are metres (vehicles at a nominal scale); y is up, objects stand on y = 0, front is +z.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from pointdistill.data.synthetic.mesh import (
    Mesh,
    beam,
    box,
    concat,
    cylinder,
    lathe,
    prism,
    rod,
    rot_x,
    rot_y,
    rot_z,
    torus,
    tube,
)
from pointdistill.data.synthetic.registry import chance, register, uniform


def _smooth(y_ctrl: list[float], r_ctrl: list[float], y: np.ndarray) -> np.ndarray:
    """Radius through control points with cosine easing between them: a smooth lathe profile from 3-5 numbers."""
    y_ctrl_a, r_ctrl_a = np.asarray(y_ctrl), np.asarray(r_ctrl)
    k = np.clip(np.searchsorted(y_ctrl_a, y, side="right") - 1, 0, len(y_ctrl_a) - 2)
    s = (y - y_ctrl_a[k]) / (y_ctrl_a[k + 1] - y_ctrl_a[k])
    return r_ctrl_a[k] + (r_ctrl_a[k + 1] - r_ctrl_a[k]) * (1.0 - np.cos(np.pi * s)) / 2.0


def _prism_zy(polygon_zy: list[tuple[float, float]], width: float, part: int) -> Mesh:
    """Convex side profile in the (z, y) plane extruded across x (car bodies, tail fins)."""
    return prism([(y, z) for z, y in polygon_zy], width, part).rotated(rot_z(np.pi / 2.0))


def _handle(major: float, minor: float, arc: float, attach_x: float, y: float, squash: float, part: int) -> Mesh:
    """A C-shaped handle in the xy plane whose two ends sink into a body surface at x = ``attach_x``."""
    bend = torus(major, minor, 12, 6, arc=arc, start=-arc / 2.0, part=part).scaled((squash, 1.0, 1.0))
    return bend.moved((attach_x - squash * major * np.cos(arc / 2.0), y, 0.0))


@register("monitor", ("screen", "neck", "base"))
def monitor(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    sw = uniform(rng, 0.4, 0.75)
    sh, st = sw * uniform(rng, 0.5, 0.68), uniform(rng, 0.015, 0.04)
    housing = uniform(rng, 0.03, 0.12) if chance(rng, 0.45) else 0.0
    if chance(rng, 0.2):  # CRT: a deep box behind the screen
        housing = sw * uniform(rng, 0.4, 0.8)
    nd = uniform(rng, 0.015, 0.03)
    neck_z = -st / 2.0 - housing - nd / 2.0
    style = float(rng.random())
    if style < 0.45:
        bt = uniform(rng, 0.01, 0.025)
        parts = [box((uniform(rng, 0.18, 0.3), bt, uniform(rng, 0.14, 0.22)), (0.0, bt / 2.0, neck_z), p.base)]
    elif style < 0.75:
        bt = uniform(rng, 0.01, 0.025)
        parts = [cylinder(uniform(rng, 0.09, 0.13), bt, 16, p.base).moved((0.0, 0.0, neck_z))]
    else:  # two splayed feet
        bt, spread = 0.02, uniform(rng, 0.1, 0.16)
        parts = [beam((0.0, 0.01, neck_z), (sx * spread, 0.01, neck_z + 0.12), 0.03, 0.02, p.base) for sx in (-1, 1)]
    y0 = bt + uniform(rng, 0.06, 0.2)
    tilt = uniform(rng, -0.05, 0.2)
    screen = [box((sw, sh, st), (0.0, y0 + sh / 2.0, 0.0), p.screen)]
    if housing > 0:
        size = (sw * uniform(rng, 0.5, 0.8), sh * uniform(rng, 0.5, 0.8), housing)
        screen.append(box(size, (0.0, y0 + sh / 2.0, -st / 2.0 - housing / 2.0), p.screen))
    parts.append(concat(screen).rotated(rot_x(-tilt), about=(0.0, y0 + sh * 0.4, neck_z)))
    neck_h = y0 + sh * 0.4 - bt
    parts.append(box((uniform(rng, 0.03, 0.07), neck_h, nd), (0.0, bt + neck_h / 2.0, neck_z), p.neck))
    return concat(parts)


def _drum_shade(rng: np.random.Generator, part: int) -> Mesh:
    rb = uniform(rng, 0.1, 0.2)
    return tube(rb, uniform(rng, 0.12, 0.25), 0.006, 20, part, radius_top=rb * uniform(rng, 0.45, 0.95))


@register("lamp", ("base", "pole", "shade"))
def lamp(rng: np.random.Generator, p: SimpleNamespace, variant: str | None = None) -> Mesh:
    """``variant`` "table" or "floor" (scenes ask for one to put it on a desk or on the floor); random when None."""
    if variant is None:
        variant = "table" if chance(rng, 0.5) else "floor"
    if variant == "table":
        if chance(rng, 0.25):  # articulated desk lamp: two arms and a downward cone
            bt = uniform(rng, 0.015, 0.03)
            parts = [cylinder(uniform(rng, 0.06, 0.1), bt, 16, p.base)]
            elbow = (0.0, bt + uniform(rng, 0.25, 0.4), -uniform(rng, 0.0, 0.12))
            head = (0.0, elbow[1] + uniform(rng, -0.05, 0.1), elbow[2] + uniform(rng, 0.2, 0.35))
            parts += [rod((0.0, bt, 0.0), elbow, 0.008, 6, p.pole), rod(elbow, head, 0.008, 6, p.pole)]
            r = uniform(rng, 0.05, 0.09)
            ch = uniform(rng, 0.08, 0.14)
            cone = tube(r, ch, 0.004, 16, p.shade, radius_top=r * 0.3)
            parts.append(cone.moved((head[0], head[1] - ch * 0.9, head[2])))
            return concat(parts)
        if chance(rng, 0.5):  # ceramic body
            hb = uniform(rng, 0.12, 0.3)
            rb, rm, rn = uniform(rng, 0.05, 0.09), uniform(rng, 0.06, 0.13), uniform(rng, 0.015, 0.04)
            ys = np.linspace(0.0, hb, 7)
            rs = _smooth([0.0, hb * 0.45, hb], [rb, rm, rn], ys)
            parts = [lathe(np.r_[0.0, rs, 0.0], np.r_[0.0, ys, hb], 16, p.base)]
            top = hb
            pole = uniform(rng, 0.06, 0.15)
        else:
            top = uniform(rng, 0.015, 0.04)
            parts = [cylinder(uniform(rng, 0.06, 0.12), top, 16, p.base)]
            pole = uniform(rng, 0.2, 0.45)
    else:
        if chance(rng, 0.6):
            top = uniform(rng, 0.02, 0.04)
            parts = [cylinder(uniform(rng, 0.12, 0.2), top, 16, p.base)]
        else:  # tripod
            top, foot = uniform(rng, 0.25, 0.4), uniform(rng, 0.2, 0.3)
            feet = [(foot * np.cos(a), 0.0, foot * np.sin(a)) for a in (0.0, 2.1, 4.2)]
            parts = [rod(f, (0.0, top, 0.0), 0.012, 6, p.base) for f in feet]
        pole = uniform(rng, 1.2, 1.7) - top
        style = float(rng.random())
        if style < 0.3:  # arc lamp: the pole bends over and a dome hangs from its end
            reach, n = uniform(rng, 0.3, 0.6), 6
            angles = np.linspace(0.0, np.pi / 2.0, n + 1)
            path = [(reach * (1.0 - np.cos(a)), top + pole + reach * np.sin(a), 0.0) for a in angles]
            parts.append(rod((0.0, top, 0.0), path[0], 0.014, 8, p.pole))
            parts += [rod(path[k], path[k + 1], 0.014, 8, p.pole) for k in range(n)]
            tip = path[-1]
            parts.append(rod(tip, (tip[0] + 0.1, tip[1] - 0.1, 0.0), 0.014, 8, p.pole))
            r, dh, t = uniform(rng, 0.15, 0.25), uniform(rng, 0.1, 0.2), 0.006
            a = np.linspace(0.0, np.pi / 2.0, 6)
            dome_r = np.r_[r * np.cos(a), (r - t) * np.cos(a[::-1])]
            dome_y = np.r_[dh * np.sin(a), (dh - t) * np.sin(a[::-1])]
            dome = lathe(dome_r, dome_y, 20, p.shade, closed_loop=True)
            parts.append(dome.moved((tip[0] + 0.1, tip[1] - 0.1 - dh, 0.0)))
            return concat(parts)
        if style < 0.55:  # torchiere: a wide bowl on top
            parts.append(rod((0.0, top, 0.0), (0.0, top + pole, 0.0), 0.012, 8, p.pole))
            r = uniform(rng, 0.15, 0.25)
            bowl = tube(r * 0.3, uniform(rng, 0.06, 0.12), 0.006, 20, p.shade, radius_top=r)
            parts.append(bowl.moved((0.0, top + pole - 0.02, 0.0)))
            return concat(parts)
    parts.append(rod((0.0, top, 0.0), (0.0, top + pole, 0.0), uniform(rng, 0.006, 0.014), 8, p.pole))
    shade = _drum_shade(rng, p.shade)
    sh = shade.bounds[1, 1]
    parts.append(shade.moved((0.0, top + pole - sh * uniform(rng, 0.3, 0.7), 0.0)))
    return concat(parts)


@register("mug", ("body", "handle"))
def mug(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    rb, h, t = uniform(rng, 0.035, 0.055), uniform(rng, 0.07, 0.12), uniform(rng, 0.003, 0.007)
    rt = rb * uniform(rng, 0.9, 1.12)
    body = lathe([0.0, rb, rt, rt - t, rb - t, 0.0], [0.0, 0.0, h, h, 1.5 * t, 1.5 * t], 20, p.body)
    major = h * uniform(rng, 0.25, 0.36)
    attach, hy = (rb + rt) / 2.0, h * uniform(rng, 0.45, 0.55)
    minor, arc, squash = uniform(rng, 0.005, 0.011), uniform(rng, 3.6, 4.6), uniform(rng, 0.6, 1.0)
    handle = _handle(major, minor, arc, attach, hy, squash, p.handle)
    return concat([body, handle])


def _bowl(radius: float, depth: float, thickness: float, closing: float, y0: float, part: int) -> Mesh:
    """A rounded cup bowl (outer and inner wall): ``closing`` > 0 narrows the rim like a tulip glass."""
    a = np.linspace(0.0, np.pi / 2.0 + closing, 7)
    r_out, y_out = radius * np.sin(a), y0 + depth * (1.0 - np.cos(a))
    r_in, y_in = np.maximum(r_out - thickness, 0.0), np.maximum(y_out, y0 + thickness)
    return lathe(np.r_[r_out, r_in[::-1]], np.r_[y_out, y_in[::-1]], 20, part)


@register("cup", ("bowl", "stem", "foot"))
def cup(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    kind = float(rng.random())
    if kind < 0.4:  # tumbler / paper cup: a tapered open cylinder
        rb, h, t = uniform(rng, 0.025, 0.04), uniform(rng, 0.08, 0.15), uniform(rng, 0.002, 0.005)
        rt = rb * uniform(rng, 1.15, 1.6)
        parts = [lathe([0.0, rb, rt, rt - t, rb - t, 0.0], [0.0, 0.0, h, h, 1.5 * t, 1.5 * t], 20, p.bowl)]
        if chance(rng, 0.3):
            parts.append(cylinder(rb * 1.05, 0.006, 16, p.foot, radius_top=rb * 0.9).moved((0.0, -0.006, 0.0)))
        return concat(parts)
    if kind < 0.8:  # goblet / wine glass
        fr, stem = uniform(rng, 0.03, 0.045), uniform(rng, 0.04, 0.12)
        parts = [cylinder(fr, 0.005, 16, p.foot, radius_top=fr * 0.8)]
        parts.append(rod((0.0, 0.005, 0.0), (0.0, 0.005 + stem, 0.0), uniform(rng, 0.003, 0.007), 8, p.stem))
        radius, depth = uniform(rng, 0.035, 0.05), uniform(rng, 0.06, 0.11)
        parts.append(_bowl(radius, depth, 0.003, uniform(rng, -0.3, 0.25), 0.005 + stem - 0.004, p.bowl))
        return concat(parts)
    radius, depth = uniform(rng, 0.04, 0.06), uniform(rng, 0.04, 0.06)
    fh = uniform(rng, 0.006, 0.012)
    foot = cylinder(radius * 0.45, fh, 16, p.foot, radius_top=radius * 0.5)
    return concat([foot, _bowl(radius, depth, 0.003, uniform(rng, -0.4, 0.0), fh - 0.003, p.bowl)])


@register("vase", ("body", "neck", "handle"))
def vase(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    h = uniform(rng, 0.2, 0.5)
    r0, r1, r2 = uniform(rng, 0.04, 0.09), uniform(rng, 0.07, 0.17), uniform(rng, 0.02, 0.06)
    y1, y2 = h * uniform(rng, 0.25, 0.55), h * uniform(rng, 0.7, 0.85)
    lip = r2 * uniform(rng, 1.0, 1.8)
    t = 0.005
    y_body = np.linspace(0.0, y2, 8)
    r_body = _smooth([0.0, y1, y2], [r0, r1, r2], y_body)
    y_neck = np.array([y2 + (h - y2) * 0.5, h])
    r_neck = np.array([r2 + (lip - r2) * 0.3, lip])
    cavity = max(h - (h - y2) * uniform(rng, 1.5, 3.0), y1)
    r_in = np.array([lip - t, r2 - t, r2 - t])
    y_in = np.array([h, y2, cavity])
    r = np.r_[0.0, r_body, r_neck, r_in, 0.0]
    y = np.r_[0.0, y_body, y_neck, y_in, cavity]
    n_body = 1 + len(r_body) - 1  # bottom disc + outer body edges
    edge_part = np.full(len(r) - 1, p.neck)
    edge_part[:n_body] = p.body
    parts = [lathe(r, y, 20, edge_part)]
    if chance(rng, 0.3):
        hy = (y1 + y2) / 2.0
        attach = float(_smooth([0.0, y1, y2], [r0, r1, r2], np.array([hy]))[0])
        handle = _handle(h * 0.15, 0.008, uniform(rng, 3.4, 4.2), attach, hy, uniform(rng, 0.5, 0.9), p.handle)
        parts += [handle, handle.rotated(rot_y(np.pi))]
    return concat(parts)


@register("bottle", ("body", "neck", "cap"))
def bottle(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    r, h = uniform(rng, 0.025, 0.07), uniform(rng, 0.16, 0.32)
    ys = h * uniform(rng, 0.5, 0.72)
    rn = r * uniform(rng, 0.25, 0.45)
    yn = min(ys + h * uniform(rng, 0.1, 0.2), h * 0.92)
    waist = r * uniform(rng, 0.85, 1.0) if chance(rng, 0.3) else r
    y_body = np.linspace(0.02 * h, ys, 4)
    r_body = _smooth([0.0, ys * 0.5, ys], [r, waist, r], y_body)
    a = np.linspace(0.0, np.pi / 2.0, 5)[1:]
    r_shoulder = rn + (r - rn) * np.cos(a)
    y_shoulder = ys + (yn - ys) * np.sin(a)
    rc, hc = rn * uniform(rng, 1.05, 1.3), uniform(rng, 0.015, 0.03)
    rr = np.r_[0.0, r * 0.95, r_body, r_shoulder, rn, rc, rc, 0.0]
    yy = np.r_[0.0, 0.0, y_body, y_shoulder, h, h, h + hc, h + hc]
    edge_part = np.full(len(rr) - 1, p.body)
    neck_edge = 2 + len(r_body) + len(r_shoulder) - 1  # the edge from the end of the shoulder up to the lip
    edge_part[neck_edge] = p.neck
    edge_part[neck_edge + 1 :] = p.cap
    return lathe(rr, yy, 20, edge_part)


@register("airplane", ("fuselage", "wing", "tail", "engine"))
def airplane(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    rf = uniform(rng, 0.035, 0.07)
    tail_start, nose_start = uniform(rng, -0.32, -0.18), uniform(rng, 0.3, 0.42)
    fus = lathe(
        [0.0, rf * 0.3, rf, rf, rf * 0.75, rf * 0.35, 0.0],
        [-0.5, -0.49, tail_start, nose_start, 0.45, 0.485, 0.5],
        14,
        p.fuselage,
    )
    parts = [fus.rotated(rot_x(np.pi / 2.0))]
    span, root = uniform(rng, 0.3, 0.65), uniform(rng, 0.15, 0.28)
    tip, sweep, tw = root * uniform(rng, 0.25, 0.7), uniform(rng, 0.0, 0.3), uniform(rng, 0.008, 0.02)
    if chance(rng, 0.25):  # delta wing: short span, long root, small tip far back
        span, root = uniform(rng, 0.2, 0.35), uniform(rng, 0.35, 0.55)
        tip, sweep = root * uniform(rng, 0.05, 0.2), root * uniform(rng, 0.6, 0.85)
    zw, wy, dihedral = uniform(rng, -0.08, 0.1), rf * uniform(rng, -0.6, 0.6), uniform(rng, -0.03, 0.12)
    le = zw + root / 2.0
    wing = prism([(0.0, le), (0.0, le - root), (span, le - sweep - tip), (span, le - sweep)], tw, p.wing)
    wing = wing.rotated(rot_z(dihedral)).moved((0.0, wy, 0.0))
    parts += [wing, wing.scaled((-1.0, 1.0, 1.0))]
    fin_h, fin_root = uniform(rng, 0.1, 0.2), uniform(rng, 0.1, 0.18)
    fin_tip, fin_sweep = fin_root * uniform(rng, 0.3, 0.7), uniform(rng, 0.03, 0.12)
    fz = -0.49 + fin_root
    fin_outline = [(fz, 0.0), (fz - fin_root, 0.0), (fz - fin_sweep - fin_tip, fin_h), (fz - fin_sweep, fin_h)]
    fin = _prism_zy(fin_outline, tw, p.tail)
    parts.append(fin.moved((0.0, rf * 0.6, 0.0)))
    stab_span, stab_root = uniform(rng, 0.1, 0.2), uniform(rng, 0.07, 0.13)
    t_tail = chance(rng, 0.25)
    sz = (fz - fin_sweep) if t_tail else fz
    stab_y = rf * 0.6 + fin_h if t_tail else rf * 0.2
    stab_outline = [(0.0, sz), (0.0, sz - stab_root), (stab_span, sz - stab_root * 0.9 - 0.03), (stab_span, sz - 0.03)]
    stab = prism(stab_outline, tw * 0.8, p.tail)
    stab = stab.moved((0.0, stab_y, 0.0))
    parts += [stab, stab.scaled((-1.0, 1.0, 1.0))]
    engine_style = float(rng.random())
    if engine_style < 0.6:  # under the wings
        rn, ln = uniform(rng, 0.02, 0.035), uniform(rng, 0.1, 0.16)
        stations = [uniform(rng, 0.25, 0.4)] + ([uniform(rng, 0.55, 0.7)] if chance(rng, 0.3) else [])
        for s in stations:
            x = s * span
            y = wy + x * np.tan(dihedral) - tw / 2.0 - rn
            z = le - sweep * s + 0.04 - ln
            nacelle = cylinder(rn, ln, 10, p.engine).rotated(rot_x(np.pi / 2.0)).moved((x, y, z))
            parts += [nacelle, nacelle.scaled((-1.0, 1.0, 1.0))]
    elif engine_style < 0.8:  # rear-mounted on the fuselage
        rn, ln = uniform(rng, 0.02, 0.03), uniform(rng, 0.1, 0.14)
        nacelle = cylinder(rn, ln, 10, p.engine).rotated(rot_x(np.pi / 2.0)).moved((rf + rn, rf * 0.3, -0.38))
        parts += [nacelle, nacelle.scaled((-1.0, 1.0, 1.0))]
    plane = concat(parts)
    return plane.moved((0.0, -plane.bounds[0, 1], 0.0))  # resting on y = 0 like every other class


@register("rocket", ("body", "nose", "fin", "nozzle"))
def rocket(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    r, hn, hc = uniform(rng, 0.035, 0.12), uniform(rng, 0.03, 0.08), uniform(rng, 0.1, 0.25)
    r_top = r * uniform(rng, 0.6, 0.85) if chance(rng, 0.35) else r
    y_step = uniform(rng, 0.35, 0.6)
    a = np.linspace(0.0, np.pi / 2.0, 6)[1:]
    ogive = chance(rng, 0.5)
    nose_r = r_top * np.cos(a) if ogive else r_top * (1.0 - a / (np.pi / 2.0))
    nose_y = (1.0 - hc) + hc * np.sin(a) if ogive else (1.0 - hc) + hc * a / (np.pi / 2.0)
    rr = np.r_[0.0, r * uniform(rng, 0.6, 1.0), r * uniform(rng, 0.4, 0.7), r, r, r_top, r_top, nose_r]
    yy = np.r_[0.0, 0.0, hn, hn, y_step, y_step + 0.02, 1.0 - hc, nose_y]
    edge_part = np.full(len(rr) - 1, p.body)
    edge_part[:2] = p.nozzle
    edge_part[6:] = p.nose
    parts = [lathe(rr, yy, 16, edge_part)]
    n = 3 if chance(rng, 0.5) else 4
    fin_root, fin_span = uniform(rng, 0.1, 0.3), uniform(rng, 0.06, 0.2)
    fin_tip, fin_sweep, ft = fin_root * uniform(rng, 0.2, 0.7), uniform(rng, 0.0, 0.1), uniform(rng, 0.005, 0.015)
    base = hn + uniform(rng, -0.02, 0.03)
    root_r, tip_r, tip_y = r * 0.9, r + fin_span, base + fin_sweep
    fin = prism([(root_r, base), (root_r, base + fin_root), (tip_r, tip_y + fin_tip), (tip_r, tip_y)], ft, p.fin)
    fin = fin.rotated(rot_x(-np.pi / 2.0))
    offset = uniform(rng, 0.0, np.pi)
    parts += [fin.rotated(rot_y(offset + k * 2.0 * np.pi / n)) for k in range(n)]
    if chance(rng, 0.25):  # strap-on boosters
        rb, hb = r * uniform(rng, 0.3, 0.5), uniform(rng, 0.3, 0.5)
        booster = lathe([0.0, rb, rb, 0.0], [hn, hn, hn + hb, hn + hb + rb * 3.0], 10, p.body)
        m = 2 if chance(rng, 0.5) else 4
        booster = booster.moved((r + rb, 0.0, 0.0))
        parts += [booster.rotated(rot_y(offset + np.pi / n + k * 2.0 * np.pi / m)) for k in range(m)]
    return concat(parts)


@register("car", ("body", "cabin", "wheel"))
def car(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    length = uniform(rng, 3.6, 5.2)
    width, wr = length * uniform(rng, 0.36, 0.46), uniform(rng, 0.28, 0.4)
    clear, hb = wr * uniform(rng, 0.7, 1.1), uniform(rng, 0.45, 0.75)  # the lower half of each wheel shows
    half, top = length / 2.0, clear + hb
    hood, tail = uniform(rng, 0.1, 0.35), uniform(rng, 0.05, 0.3)
    body = [(-half, clear), (half, clear), (half, clear + hb * 0.6), (half - hood, top), (-half + tail, top)]
    body.append((-half, clear + hb * 0.7))
    parts = [_prism_zy(body, width, p.body)]
    kind = float(rng.random())
    hc = uniform(rng, 0.35, 0.6)
    if kind < 0.35:  # sedan
        z0, z1, rake_b, rake_f = -0.3 * length, 0.18 * length, 0.35, 0.45
    elif kind < 0.6:  # hatchback
        z0, z1, rake_b, rake_f = -half + tail, 0.18 * length, 0.15, 0.45
    elif kind < 0.85:  # SUV / van
        hc = uniform(rng, 0.55, 0.95)
        z0, z1, rake_b, rake_f = -half + tail, 0.25 * length, 0.05, 0.35
    else:  # pickup: short cabin, open load bed behind it
        z0, z1, rake_b, rake_f = -0.1 * length, 0.2 * length, 0.05, 0.3
        bed_len = z0 - (-half + tail)
        side_z = z0 - bed_len / 2.0
        parts += [box((0.04, 0.3, bed_len), (sx * (width / 2.0 - 0.02), top + 0.15, side_z), p.body) for sx in (-1, 1)]
        parts.append(box((width, 0.3, 0.04), (0.0, top + 0.15, -half + tail + 0.02), p.body))
    cabin = [(z0, top), (z1, top), (z1 - rake_f * hc * 1.2, top + hc), (z0 + rake_b * hc * 1.2, top + hc)]
    parts.append(_prism_zy(cabin, width * uniform(rng, 0.8, 0.95), p.cabin))
    ww = uniform(rng, 0.18, 0.26)
    axle = half - uniform(rng, 0.7, 1.0)
    wheel = cylinder(wr, ww, 14, p.wheel).moved((0.0, -ww / 2.0, 0.0)).rotated(rot_z(np.pi / 2.0))
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(wheel.moved((sx * (width / 2.0 - ww / 2.0 + 0.05), wr, sz * axle)))
    return concat(parts)
