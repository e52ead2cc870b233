"""Procedural furniture: chair, sofa, bench, stool, table, desk, bed, bookshelf, cabinet.

The classes deliberately share parts (seats, legs, boards, boxes) and overlap in size: a one-seat sofa is an
armchair, a backed bench is an armless sofa, a coffee table is as low as a bench, a desk's drawer block is a small
cabinet, a cabinet without doors is a bookshelf. What separates them is how the parts are arranged, which is what a
point-cloud encoder should learn. Units are metres; y is up, the object stands on y = 0 and faces +z.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from pointdistill.data.synthetic.mesh import Mesh, beam, box, concat, cylinder, ellipsoid, rod, rot_x, torus
from pointdistill.data.synthetic.registry import chance, register, uniform

Point = tuple[float, float, float]


def _leg(top: Point, outward: tuple[float, float], thick: float, round_: bool, splay: float, part: int) -> Mesh:
    """A leg from ``top`` down to the floor, its foot pushed ``outward`` (unit xz direction) by the splay angle."""
    shift = top[1] * np.tan(splay)
    foot = (top[0] + outward[0] * shift, 0.0, top[2] + outward[1] * shift)
    return rod(top, foot, thick / 2.0, 8, part) if round_ else beam(foot, top, thick, part=part)


def _leg_at(top: Point, outward: tuple[float, float], splay: float, y: float) -> Point:
    """Where a splayed leg hanging from ``top`` passes height ``y`` (to attach rungs and stretchers)."""
    shift = (top[1] - y) * np.tan(splay)
    return (top[0] + outward[0] * shift, y, top[2] + outward[1] * shift)


def _corner_legs(
    half_w: float, half_d: float, top_y: float, thick: float, round_: bool, splay: float, part: int
) -> tuple[list[Mesh], list[tuple[Point, tuple[float, float]]]]:
    """Four legs under the corners of a rectangle; also returns (top, outward) of each, in ring order."""
    legs, anchors = [], []
    for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        top = (sx * half_w, top_y, sz * half_d)
        outward = (sx * 0.7071, sz * 0.7071)
        legs.append(_leg(top, outward, thick, round_, splay, part))
        anchors.append((top, outward))
    return legs, anchors


def _ring_rails(
    anchors: list[tuple[Point, tuple[float, float]]], splay: float, y: float, thick: float, part: int
) -> list[Mesh]:
    """Rails joining consecutive legs at height ``y`` (stretchers, stool rungs)."""
    points = [_leg_at(top, out, splay, y) for top, out in anchors]
    return [rod(points[k], points[(k + 1) % len(points)], thick / 2.0, 6, part) for k in range(len(points))]


@register("chair", ("seat", "back", "leg", "arm"))
def chair(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    w, d, h, st = uniform(rng, 0.38, 0.65), uniform(rng, 0.36, 0.6), uniform(rng, 0.38, 0.55), uniform(rng, 0.03, 0.08)
    parts = [box((w, st, d), (0.0, h - st / 2.0, 0.0), p.seat)]
    if chance(rng, 0.78):
        lt, inset = uniform(rng, 0.025, 0.05), uniform(rng, 0.0, 0.05)
        splay = uniform(rng, 0.0, 0.12) if chance(rng, 0.4) else 0.0
        hw, hd = w / 2 - lt / 2 - inset, d / 2 - lt / 2 - inset
        legs, anchors = _corner_legs(hw, hd, h - st, lt, chance(rng, 0.4), splay, p.leg)
        parts += legs
        if chance(rng, 0.3):
            parts += _ring_rails(anchors, splay, uniform(rng, 0.08, 0.2), lt * 0.6, p.leg)
    else:  # swivel chair: column on a five-spoke base
        base_y = uniform(rng, 0.05, 0.09)
        parts.append(rod((0.0, base_y, 0.0), (0.0, h - st, 0.0), uniform(rng, 0.02, 0.035), 10, p.leg))
        spoke = uniform(rng, 0.24, 0.32)
        for k in range(5):
            a = k * 2.0 * np.pi / 5 + 0.3
            foot = (spoke * np.cos(a), 0.03, spoke * np.sin(a))
            parts.append(beam((0.0, base_y, 0.0), foot, 0.04, 0.03, p.leg))
            parts.append(cylinder(0.025, 0.03, 6, p.leg).moved(foot).moved((0.0, -0.03, 0.0)))
    bh, bt, tilt = uniform(rng, 0.2, 0.7), uniform(rng, 0.02, 0.05), uniform(rng, 0.0, 0.3)
    back_w = w * uniform(rng, 0.8, 1.0)
    if chance(rng, 0.5):
        back = [box((back_w, bh, bt), (0.0, bh / 2.0, 0.0), p.back)]
    else:  # two posts, a top rail and vertical or horizontal slats
        post = bt * uniform(rng, 1.0, 1.4)
        rail = uniform(rng, 0.05, 0.12)
        back = [box((post, bh, bt), (sx * (back_w - post) / 2.0, bh / 2.0, 0.0), p.back) for sx in (-1, 1)]
        back.append(box((back_w, rail, bt), (0.0, bh - rail / 2.0, 0.0), p.back))
        if chance(rng, 0.5):
            n = int(rng.integers(1, 6))
            for x in np.linspace(-1, 1, n + 2)[1:-1] * (back_w - post) / 2.0:
                back.append(box((uniform(rng, 0.02, 0.06), bh - rail, bt * 0.6), (x, (bh - rail) / 2.0, 0.0), p.back))
        else:
            for y in np.linspace(0.15, 0.7, int(rng.integers(1, 4))) * bh:
                back.append(box((back_w, uniform(rng, 0.03, 0.07), bt * 0.6), (0.0, y, 0.0), p.back))
    parts.append(concat(back).rotated(rot_x(-tilt)).moved((0.0, h, -d / 2.0 + bt / 2.0)))
    if chance(rng, 0.35):
        ah, aw, al = uniform(rng, 0.18, 0.28), uniform(rng, 0.03, 0.07), d * uniform(rng, 0.7, 1.0)
        for sx in (-1, 1):
            x = sx * (w / 2.0 + aw / 2.0 * uniform(rng, -1.0, 1.0))
            parts.append(box((aw, 0.03, al), (x, h + ah, -d / 2.0 + al / 2.0), p.arm))
            parts.append(box((aw * 0.8, ah, aw * 0.8), (x, h + ah / 2.0, -d / 2.0 + al - aw / 2.0), p.arm))
    return concat(parts)


@register("sofa", ("seat", "back", "arm", "leg"))
def sofa(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    w, d, seat_h = uniform(rng, 0.8, 2.4), uniform(rng, 0.75, 1.0), uniform(rng, 0.38, 0.48)
    leg_h = uniform(rng, 0.04, 0.14) if chance(rng, 0.6) else 0.0
    ct, bt, back_h = uniform(rng, 0.08, 0.16), uniform(rng, 0.15, 0.28), uniform(rng, 0.3, 0.5)
    aw = uniform(rng, 0.08, 0.25) if chance(rng, 0.85) else 0.0
    base_top = seat_h - ct
    parts = [box((w, base_top - leg_h, d), (0.0, (base_top + leg_h) / 2.0, 0.0), p.seat)]
    inner = w - 2.0 * aw
    n = max(1, int(round(inner / uniform(rng, 0.5, 0.8))))
    cd = d - bt
    for k in range(n):
        x = -inner / 2.0 + (k + 0.5) * inner / n
        parts.append(box((inner / n - 0.01, ct, cd), (x, base_top + ct / 2.0, d / 2.0 - cd / 2.0), p.seat))
    back_z = -d / 2.0 + bt / 2.0
    back = [box((inner, back_h + ct, bt), (0.0, base_top + (back_h + ct) / 2.0, back_z), p.back)]
    if chance(rng, 0.4):
        cushion_t = uniform(rng, 0.08, 0.14)
        for k in range(n):
            x = -inner / 2.0 + (k + 0.5) * inner / n
            y = base_top + ct + back_h * 0.42
            z = back_z + bt / 2.0 + cushion_t / 2.0
            back.append(box((inner / n - 0.01, back_h * 0.8, cushion_t), (x, y, z), p.back))
    parts.append(concat(back).rotated(rot_x(-uniform(rng, 0.0, 0.15)), about=(0.0, base_top, -d / 2.0)))
    if aw > 0:
        arm_top = seat_h + uniform(rng, 0.1, 0.3)
        rounded = chance(rng, 0.4)
        for sx in (-1, 1):
            x = sx * (w / 2.0 - aw / 2.0)
            parts.append(box((aw, arm_top - leg_h, d), (x, (arm_top + leg_h) / 2.0, 0.0), p.arm))
            if rounded:
                parts.append(rod((x, arm_top, -d / 2.0), (x, arm_top, d / 2.0), aw / 2.0, 10, p.arm))
    if leg_h > 0:
        lt = uniform(rng, 0.03, 0.06)
        legs, _ = _corner_legs(w / 2.0 - lt, d / 2.0 - lt, leg_h, lt, chance(rng, 0.5), 0.0, p.leg)
        parts += legs
    return concat(parts)


@register("bench", ("seat", "leg", "back"))
def bench(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    w, d, h, st = uniform(rng, 0.9, 1.8), uniform(rng, 0.3, 0.45), uniform(rng, 0.40, 0.48), uniform(rng, 0.03, 0.06)
    parts = []
    if chance(rng, 0.4):
        n = int(rng.integers(2, 5))
        slat = (d - (n - 1) * 0.015) / n
        for k in range(n):
            parts.append(box((w, st, slat), (0.0, h - st / 2.0, -d / 2.0 + slat / 2.0 + k * (slat + 0.015)), p.seat))
    else:
        parts.append(box((w, st, d), (0.0, h - st / 2.0, 0.0), p.seat))
    inset = uniform(rng, 0.03, 0.2)
    style = float(rng.random())
    if style < 0.45:
        lt = uniform(rng, 0.03, 0.06)
        splay = uniform(rng, 0.0, 0.1)
        parts += _corner_legs(w / 2 - inset, d / 2 - lt, h - st, lt, chance(rng, 0.4), splay, p.leg)[0]
    else:
        pt = uniform(rng, 0.03, 0.06)
        for sx in (-1, 1):
            x = sx * (w / 2.0 - inset)
            if style < 0.75:  # slab ends
                parts.append(box((pt, h - st, d * uniform(rng, 0.8, 1.0)), (x, (h - st) / 2.0, 0.0), p.leg))
            else:  # A-frame trestles
                for sz in (-1, 1):
                    parts.append(beam((x, 0.0, sz * d * 0.55), (x, h - st, sz * d * 0.2), pt, part=p.leg))
                parts.append(box((pt, 0.03, d * 1.1), (x, 0.015, 0.0), p.leg))
        if chance(rng, 0.5):
            y = uniform(rng, 0.1, 0.25)
            parts.append(box((w - 2.0 * inset, 0.03, 0.03), (0.0, y, 0.0), p.leg))
    if chance(rng, 0.35):
        bh, post = uniform(rng, 0.3, 0.45), uniform(rng, 0.03, 0.05)
        back = [box((post, bh + h, post), (sx * (w / 2.0 - inset), (bh + h) / 2.0, 0.0), p.back) for sx in (-1, 1)]
        for y in np.linspace(0.35, 0.95, int(rng.integers(1, 4))):
            back.append(box((w * 0.98, uniform(rng, 0.04, 0.1), 0.025), (0.0, h + y * bh, 0.0), p.back))
        tilt = uniform(rng, 0.0, 0.2)
        parts.append(concat(back).rotated(rot_x(-tilt), about=(0.0, h, 0.0)).moved((0.0, 0.0, -d / 2.0 - post / 2.0)))
    return concat(parts)


@register("stool", ("seat", "leg", "rung"))
def stool(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    h, st, r = uniform(rng, 0.42, 0.80), uniform(rng, 0.03, 0.07), uniform(rng, 0.14, 0.22)
    if chance(rng, 0.65):
        parts = [cylinder(r, st, 16, p.seat).moved((0.0, h - st, 0.0))]
    else:
        parts = [box((1.8 * r, st, 1.8 * r), (0.0, h - st / 2.0, 0.0), p.seat)]
    rung_y = h * uniform(rng, 0.25, 0.45)
    if chance(rng, 0.75):
        n = int(rng.integers(3, 5))
        splay, lt, ring = uniform(rng, 0.03, 0.2), uniform(rng, 0.02, 0.04), r * uniform(rng, 0.55, 0.8)
        round_ = chance(rng, 0.6)
        anchors = []
        for k in range(n):
            a = k * 2.0 * np.pi / n + np.pi / 4.0
            top = (ring * np.cos(a), h - st, ring * np.sin(a))
            anchors.append((top, (np.cos(a), np.sin(a))))
            parts.append(_leg(top, (np.cos(a), np.sin(a)), lt, round_, splay, p.leg))
        if chance(rng, 0.55):
            parts += _ring_rails(anchors, splay, rung_y, lt * 0.7, p.rung)
    else:  # pedestal
        parts.append(rod((0.0, 0.02, 0.0), (0.0, h - st, 0.0), uniform(rng, 0.02, 0.04), 10, p.leg))
        parts.append(cylinder(uniform(rng, 0.15, 0.24), uniform(rng, 0.02, 0.04), 16, p.leg))
        if chance(rng, 0.55):
            major = uniform(rng, 0.13, 0.19)
            parts.append(torus(major, 0.01, 16, 6, part=p.rung).rotated(rot_x(np.pi / 2.0)).moved((0.0, rung_y, 0.0)))
            for k in range(3):
                a = k * 2.0 * np.pi / 3.0
                parts.append(rod((0.0, rung_y, 0.0), (major * np.cos(a), rung_y, major * np.sin(a)), 0.008, 6, p.rung))
    return concat(parts)


@register("table", ("top", "leg", "support"))
def table(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    kind, tt = float(rng.random()), uniform(rng, 0.02, 0.06)
    if kind < 0.35:  # round
        r, h = uniform(rng, 0.35, 0.65), uniform(rng, 0.68, 0.78)
        parts = [cylinder(r, tt, 24, p.top).moved((0.0, h - tt, 0.0))]
        if chance(rng, 0.4):
            parts.append(rod((0.0, 0.03, 0.0), (0.0, h - tt, 0.0), uniform(rng, 0.03, 0.07), 12, p.leg))
            if chance(rng, 0.5):
                parts.append(cylinder(r * uniform(rng, 0.4, 0.6), 0.03, 16, p.leg))
            else:
                n, foot = int(rng.integers(3, 5)), r * uniform(rng, 0.5, 0.8)
                for k in range(n):
                    a = k * 2.0 * np.pi / n
                    parts.append(beam((0.0, 0.04, 0.0), (foot * np.cos(a), 0.0, foot * np.sin(a)), 0.05, 0.04, p.leg))
        else:
            n, splay, lt = int(rng.integers(3, 6)), uniform(rng, 0.0, 0.1), uniform(rng, 0.03, 0.06)
            ring, round_ = r * uniform(rng, 0.55, 0.8), chance(rng, 0.6)
            anchors = []
            for k in range(n):
                a = k * 2.0 * np.pi / n
                top = (ring * np.cos(a), h - tt, ring * np.sin(a))
                anchors.append((top, (np.cos(a), np.sin(a))))
                parts.append(_leg(top, (np.cos(a), np.sin(a)), lt, round_, splay, p.leg))
            if chance(rng, 0.3):
                parts += _ring_rails(anchors, splay, uniform(rng, 0.12, 0.3), lt * 0.6, p.support)
        return concat(parts)
    coffee = kind > 0.8
    if coffee:
        w, d, h = uniform(rng, 0.7, 1.3), uniform(rng, 0.4, 0.7), uniform(rng, 0.35, 0.5)
    else:
        w, h = uniform(rng, 0.8, 2.0), uniform(rng, 0.68, 0.78)
        d = uniform(rng, 0.6, min(1.0, w))
    parts = [box((w, tt, d), (0.0, h - tt / 2.0, 0.0), p.top)]
    inset, lt = uniform(rng, 0.0, 0.1), uniform(rng, 0.03, 0.08)
    hw, hd = w / 2.0 - lt / 2.0 - inset, d / 2.0 - lt / 2.0 - inset
    if chance(rng, 0.15):  # trestle ends and a long stretcher
        for sx in (-1, 1):
            parts.append(box((lt, h - tt, d * 0.8), (sx * hw, (h - tt) / 2.0, 0.0), p.leg))
        parts.append(box((2.0 * hw, 0.05, 0.04), (0.0, uniform(rng, 0.1, 0.3), 0.0), p.support))
    else:
        splay = uniform(rng, 0.0, 0.06) if chance(rng, 0.3) else 0.0
        parts += _corner_legs(hw, hd, h - tt, lt, chance(rng, 0.4), splay, p.leg)[0]
        if w > 1.6 and chance(rng, 0.3):
            parts += [_leg((0.0, h - tt, sz * hd), (0.0, float(sz)), lt, False, 0.0, p.leg) for sz in (-1, 1)]
    if chance(rng, 0.5):
        ah = uniform(rng, 0.05, 0.12)
        y = h - tt - ah / 2.0
        parts += [box((2.0 * hw, ah, 0.02), (0.0, y, sz * hd), p.support) for sz in (-1, 1)]
        parts += [box((0.02, ah, 2.0 * hd), (sx * hw, y, 0.0), p.support) for sx in (-1, 1)]
    if chance(rng, 0.5 if coffee else 0.12):
        parts.append(box((2.0 * hw, 0.02, 2.0 * hd), (0.0, uniform(rng, 0.08, 0.2), 0.0), p.support))
    return concat(parts)


@register("desk", ("top", "leg", "drawer", "panel"))
def desk(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    w, d, h, tt = uniform(rng, 1.0, 1.7), uniform(rng, 0.5, 0.8), uniform(rng, 0.70, 0.77), uniform(rng, 0.025, 0.05)
    parts = [box((w, tt, d), (0.0, h - tt / 2.0, 0.0), p.top)]
    blocks = [-1, 1] if chance(rng, 0.3) else [int(rng.choice([-1, 1]))]
    bw, bd, under = uniform(rng, 0.32, 0.45), d * uniform(rng, 0.85, 1.0), h - tt
    for side in blocks:
        cx = side * (w / 2.0 - bw / 2.0 - uniform(rng, 0.0, 0.03))
        front = -d / 2.0 + bd
        parts.append(box((bw, under, bd), (cx, under / 2.0, -d / 2.0 + bd / 2.0), p.drawer))
        n = int(rng.integers(1, 5))
        fh = (under - 0.05) / n
        for k in range(n):
            y = 0.05 + (k + 0.5) * fh
            parts.append(box((bw - 0.03, fh - 0.015, 0.015), (cx, y, front + 0.0075), p.drawer))
            parts.append(box((bw * 0.3, 0.015, 0.02), (cx, y + fh * 0.25, front + 0.025), p.drawer))
    lt = uniform(rng, 0.03, 0.06)
    panels = chance(rng, 0.5)
    for side in (-1, 1):
        if side in blocks:
            continue
        x = side * (w / 2.0 - lt / 2.0 - uniform(rng, 0.0, 0.05))
        if panels:
            parts.append(box((lt * 0.6, under, d * 0.9), (x, under / 2.0, 0.0), p.leg))
        else:
            parts += [box((lt, under, lt), (x, under / 2.0, sz * (d / 2.0 - lt)), p.leg) for sz in (-1, 1)]
    if chance(rng, 0.5):
        ph = uniform(rng, 0.25, 0.45)
        parts.append(box((w * 0.9, ph, 0.015), (0.0, under - ph / 2.0, -d / 2.0 + 0.04), p.panel))
    if chance(rng, 0.15):  # a hutch shelf at the back of the top
        sh = uniform(rng, 0.25, 0.4)
        z = -d / 2.0 + 0.125
        parts += [box((0.02, sh, 0.25), (sx * (w / 2.0 - 0.01), h + sh / 2.0, z), p.panel) for sx in (-1, 1)]
        parts.append(box((w, 0.02, 0.25), (0.0, h + sh, -d / 2.0 + 0.125), p.panel))
    return concat(parts)


@register("bed", ("frame", "mattress", "board", "leg", "pillow"))
def bed(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    w, length = uniform(rng, 0.9, 1.9), uniform(rng, 1.9, 2.15)
    leg_h = uniform(rng, 0.05, 0.2) if chance(rng, 0.6) else 0.0
    ft, mt, margin = uniform(rng, 0.1, 0.25), uniform(rng, 0.15, 0.3), uniform(rng, 0.0, 0.05)
    parts = [box((w, ft, length), (0.0, leg_h + ft / 2.0, 0.0), p.frame)]
    top = leg_h + ft + mt
    parts.append(box((w - 2.0 * margin, mt, length - 2.0 * margin), (0.0, top - mt / 2.0, 0.0), p.mattress))
    hb_h, hb_t = uniform(rng, 0.8, 1.3), uniform(rng, 0.04, 0.1)
    head_z = -length / 2.0 - hb_t / 2.0
    if chance(rng, 0.35):  # two posts carrying a raised panel
        post = uniform(rng, 0.05, 0.09)
        parts += [box((post, hb_h, post), (sx * (w / 2.0 + post / 2.0), hb_h / 2.0, head_z), p.board) for sx in (-1, 1)]
        ph = hb_h * uniform(rng, 0.4, 0.6)
        parts.append(box((w, ph, hb_t * 0.6), (0.0, hb_h - ph / 2.0 - 0.03, head_z), p.board))
    else:
        parts.append(box((w + uniform(rng, 0.0, 0.1), hb_h, hb_t), (0.0, hb_h / 2.0, head_z), p.board))
    if chance(rng, 0.4):
        fb_h = min(top + uniform(rng, -0.05, 0.3), hb_h * 0.8)
        parts.append(box((w, fb_h, hb_t), (0.0, fb_h / 2.0, length / 2.0 + hb_t / 2.0), p.board))
    if leg_h > 0:
        lt = uniform(rng, 0.04, 0.08)
        legs, _ = _corner_legs(w / 2.0 - lt, length / 2.0 - lt, leg_h, lt, chance(rng, 0.3), 0.0, p.leg)
        parts += legs
    if chance(rng, 0.2):  # four-poster
        post, ph = uniform(rng, 0.04, 0.08), uniform(rng, 1.7, 2.1)
        px, pz = w / 2.0 + post / 2.0, length / 2.0 + post / 2.0
        parts += [box((post, ph, post), (sx * px, ph / 2.0, sz * pz), p.frame) for sx in (-1, 1) for sz in (-1, 1)]
        if chance(rng, 0.5):
            parts += [box((post, post, length), (sx * px, ph, 0.0), p.frame) for sx in (-1, 1)]
    if chance(rng, 0.85):
        n = 1 if w < 1.2 else 2
        rx, ry, rz = min(0.32, w / (2 * n) * 0.85), uniform(rng, 0.05, 0.08), uniform(rng, 0.14, 0.2)
        for k in range(n):
            x = -w / 2.0 + (k + 0.5) * w / n
            pillow = ellipsoid((rx, ry, rz), 12, 6, p.pillow)
            parts.append(pillow.moved((x, top + ry * 0.7, -length / 2.0 + rz + 0.08)))
    return concat(parts)


@register("bookshelf", ("frame", "shelf", "back"))
def bookshelf(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    w, h, d = uniform(rng, 0.5, 1.3), uniform(rng, 0.8, 2.0), uniform(rng, 0.25, 0.4)
    t, plinth = uniform(rng, 0.015, 0.03), uniform(rng, 0.0, 0.08)
    parts = [box((t, h, d), (sx * (w / 2.0 - t / 2.0), h / 2.0, 0.0), p.frame) for sx in (-1, 1)]
    parts.append(box((w, t, d), (0.0, h - t / 2.0, 0.0), p.frame))
    parts.append(box((w - 2.0 * t, t, d), (0.0, plinth + t / 2.0, 0.0), p.frame))
    if plinth > 0.02:
        parts.append(box((w - 2.0 * t, plinth, t), (0.0, plinth / 2.0, d / 2.0 - t), p.frame))
    inner = h - plinth - 2.0 * t
    n = int(np.clip(round(inner / uniform(rng, 0.28, 0.42)) - 1, 1, 6))
    depth = d * uniform(rng, 0.9, 1.0)
    for y in np.linspace(0.0, 1.0, n + 2)[1:-1]:
        y = plinth + t + inner * (y + uniform(rng, -0.04, 0.04))
        parts.append(box((w - 2.0 * t, t, depth), (0.0, y, (d - depth) / 2.0), p.shelf))
    if chance(rng, 0.3):
        centre = (w * uniform(rng, -0.2, 0.2), plinth + t + inner / 2.0, (d - depth) / 2.0)
        parts.append(box((t, inner, depth), centre, p.shelf))
    if chance(rng, 0.75):
        parts.append(box((w, h - plinth, 0.008), (0.0, plinth + (h - plinth) / 2.0, -d / 2.0 + 0.004), p.back))
    return concat(parts)


@register("cabinet", ("body", "door", "handle", "leg"))
def cabinet(rng: np.random.Generator, p: SimpleNamespace) -> Mesh:
    w, h, d = uniform(rng, 0.4, 1.2), uniform(rng, 0.5, 1.9), uniform(rng, 0.35, 0.6)
    legs = chance(rng, 0.35)
    base = uniform(rng, 0.05, 0.15) if legs else uniform(rng, 0.0, 0.08)
    parts = [box((w, h - base, d), (0.0, base + (h - base) / 2.0, 0.0), p.body)]
    if not legs and base > 0.01:
        parts.append(box((w - 0.04, base, d - 0.04), (0.0, base / 2.0, -0.02), p.body))
    if chance(rng, 0.3):
        parts.append(box((w + 0.03, 0.025, d + 0.02), (0.0, h + 0.0125, 0.0), p.body))
    front, gap = d / 2.0 + 0.009, 0.006
    rows: list[tuple[float, float, int, bool]] = []  # (bottom, height, columns, is_drawer)
    layout = float(rng.random())
    tall = h - base
    if layout < 0.45:
        rows.append((base, tall, 1 if w < 0.6 else 2, False))
    elif layout < 0.75:
        n = int(rng.integers(2, 6))
        rows += [(base + k * tall / n, tall / n, 1, True) for k in range(n)]
    else:
        top_h = uniform(rng, 0.13, 0.2)
        rows.append((base, tall - top_h, 1 if w < 0.6 else 2, False))
        rows.append((h - top_h, top_h, 1 if w < 0.8 else 2, True))
    for bottom, height, cols, drawer in rows:
        for c in range(cols):
            cw = w / cols
            cx = -w / 2.0 + (c + 0.5) * cw
            cy = bottom + height / 2.0
            parts.append(box((cw - gap, height - gap, 0.018), (cx, cy, front), p.door))
            if drawer:
                parts.append(box((min(0.15, cw * 0.4), 0.015, 0.025), (cx, cy + height * 0.15, front + 0.02), p.handle))
            else:
                hx = cx + (cw / 2.0 - 0.05) * (1 if c == 0 and cols == 2 else -1)
                parts.append(box((0.015, min(0.15, height * 0.3), 0.025), (hx, cy, front + 0.02), p.handle))
    if legs:
        lt = uniform(rng, 0.03, 0.05)
        parts += _corner_legs(w / 2.0 - lt, d / 2.0 - lt, base, lt, chance(rng, 0.5), uniform(rng, 0.0, 0.1), p.leg)[0]
    return concat(parts)
