"""The route map: sites, routes and vehicles drawn as an inline SVG. Pure: no I/O, no web.

The sites' coordinates are projected equirectangularly (longitude scaled by the cosine of the
sites' mean latitude, which keeps the shapes right at the scale of an evacuation route) and
fitted into a fixed-width view box with margins; no tile server, nothing fetched. Sites are
told apart by shape and by a written kind, never by colour alone: a pickup point is a square,
a checkpoint a diamond, a reception centre a circle. The SVG is built with ElementTree, so
every name is escaped as text; characters XML cannot hold are replaced.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "HEIGHT_RANGE",
    "MARGIN",
    "WIDTH",
    "MapRoute",
    "MapSite",
    "Point",
    "VehiclesAt",
    "project",
    "route_map",
]

WIDTH = 800.0
HEIGHT_RANGE = (320.0, 640.0)
"""The view box's height follows the sites' shape, within these bounds."""
MARGIN = 60.0
"""Room left around the sites for their markers and the first characters of their labels."""
_MARK = 7.0
_SHAPES = {"pickup": "square", "checkpoint": "diamond", "reception": "circle"}
_LINE_BREAKS = re.compile("[\t\n\r]")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class MapSite:
    site: str
    name: str
    kind: str
    """``pickup``, ``checkpoint`` or ``reception``."""
    lat: float
    lon: float


@dataclass(frozen=True)
class MapRoute:
    route: str
    name: str
    sites: tuple[str, ...]
    """In the order a movement passes them; sites not in the map are skipped."""


@dataclass(frozen=True)
class VehiclesAt:
    """Vehicles last seen at a site (the last one they passed, or their pickup point)."""

    site: str
    vehicles: tuple[str, ...]


@dataclass(frozen=True)
class Point:
    x: float
    y: float


def _unwrapped(lons: Sequence[float]) -> list[float]:
    """Longitudes moved across the antimeridian when that makes their span smaller."""
    if not lons or max(lons) - min(lons) <= 180:
        return list(lons)
    shifted = [lon + 360 if lon < 0 else lon for lon in lons]
    return shifted if max(shifted) - min(shifted) < max(lons) - min(lons) else list(lons)


def project(sites: Sequence[MapSite]) -> tuple[dict[str, Point], float]:
    """Each site's point in the view box ``0 0 WIDTH height``, and that height."""
    if not sites:
        return {}, HEIGHT_RANGE[0]
    lats = [s.lat for s in sites]
    lons = _unwrapped([s.lon for s in sites])
    scale_x = max(math.cos(math.radians(sum(lats) / len(lats))), 0.01)
    xs = [lon * scale_x for lon in lons]
    ys = [-lat for lat in lats]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    if span_x > 0 and span_y > 0:
        height = min(max(WIDTH * span_y / span_x, HEIGHT_RANGE[0]), HEIGHT_RANGE[1])
    else:
        height = HEIGHT_RANGE[0]
    height = round(height, 2)  # as the view box writes it: no point rounds past its edge
    inner_w, inner_h = WIDTH - 2 * MARGIN, height - 2 * MARGIN
    candidates = [s for s in (inner_w / span_x if span_x else 0, inner_h / span_y if span_y else 0)
                  if s > 0]  # fmt: skip
    k = min(candidates) if candidates else 0.0
    mid_x, mid_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2

    def fit(value: float, mid: float, centre: float, low: float, high: float) -> float:
        # rounded for the SVG's text, then clamped: no rounding carries a point past an edge
        return min(max(round(centre + (value - mid) * k, 2), low), high)

    points = {
        s.site: Point(
            fit(x, mid_x, WIDTH / 2, MARGIN, WIDTH - MARGIN),
            fit(y, mid_y, height / 2, MARGIN, height - MARGIN),
        )
        for s, x, y in zip(sites, xs, ys, strict=True)
    }
    return points, height


def _text(value: str) -> str:
    """Text XML holds as given: one line (a parser would turn a CR into a LF), no character
    XML cannot hold."""
    return _NOT_XML.sub("\ufffd", _LINE_BREAKS.sub(" ", value))


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _marker(parent: ET.Element, kind: str, p: Point) -> None:
    shape = _SHAPES.get(kind, "circle")
    if shape == "square":
        ET.SubElement(parent, "rect", {
            "x": _n(p.x - _MARK), "y": _n(p.y - _MARK), "width": _n(2 * _MARK),
            "height": _n(2 * _MARK), "class": "site pickup",
        })  # fmt: skip
    elif shape == "diamond":
        corners = [(p.x, p.y - _MARK - 1), (p.x + _MARK + 1, p.y), (p.x, p.y + _MARK + 1),
                   (p.x - _MARK - 1, p.y)]  # fmt: skip
        ET.SubElement(parent, "polygon", {
            "points": " ".join(f"{_n(x)},{_n(y)}" for x, y in corners),
            "class": "site checkpoint",
        })  # fmt: skip
    else:
        ET.SubElement(parent, "circle", {
            "cx": _n(p.x), "cy": _n(p.y), "r": _n(_MARK), "class": f"site {_text(kind)}",
        })  # fmt: skip


_OFFSETS = (-(_MARK + 4), 2 * _MARK + 6, -(_MARK + 20), 2 * _MARK + 22, -(_MARK + 36), 48.0)
"""Where a label may go, above or below its point, nearest first (all within the margin)."""
_CHAR = 8.0  # about the width of a character at the map's font size, in view box units
Box = tuple[float, float, float, float]


def _label(parent: ET.Element, p: Point, text: str, *, placed: list[Box], css: str) -> None:
    """A label beside a point, running towards the middle of the map so it stays on it, at the
    nearest height where it covers no label placed before it (else the nearest)."""
    anchor = "start" if p.x <= WIDTH / 2 else "end"
    dx = _MARK + 4 if anchor == "start" else -(_MARK + 4)
    width = _CHAR * len(text)
    left = p.x + dx if anchor == "start" else p.x + dx - width

    def box(dy: float) -> Box:
        return (left, p.y + dy - 12, left + width, p.y + dy + 3)

    def covered(dy: float) -> float:
        a = box(dy)
        return sum(max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
                   * max(0.0, min(a[3], b[3]) - max(a[1], b[1])) for b in placed)  # fmt: skip

    dy = min(_OFFSETS, key=covered)  # the first free height, else the least covered
    placed.append(box(dy))
    label = ET.SubElement(parent, "text", {
        "x": _n(p.x), "y": _n(p.y), "dx": _n(dx), "dy": _n(dy), "text-anchor": anchor,
        "class": css,
    })  # fmt: skip
    label.text = _text(text)


def route_map(  # noqa: PLR0913 - what is drawn, and how it is named, by keyword
    sites: Sequence[MapSite],
    routes: Sequence[MapRoute] = (),
    vehicles: Sequence[VehiclesAt] = (),
    *,
    title: str,
    description: str,
    ident: str = "route-map",
) -> str:
    """The map as an ``<svg>`` element (text), titled and described for screen readers."""
    points, height = project(sites)
    svg = ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "viewBox": f"0 0 {_n(WIDTH)} {_n(height)}",
        "role": "img", "aria-labelledby": f"{ident}-title {ident}-desc", "class": "route-map",
        "id": ident,
    })  # fmt: skip
    ET.SubElement(svg, "title", {"id": f"{ident}-title"}).text = _text(title)
    ET.SubElement(svg, "desc", {"id": f"{ident}-desc"}).text = _text(description)
    for route in routes:
        line = [points[s] for s in route.sites if s in points]
        if len(line) < 2:
            continue
        drawn = ET.SubElement(svg, "polyline", {
            "points": " ".join(f"{_n(p.x)},{_n(p.y)}" for p in line), "class": "route",
        })  # fmt: skip
        ET.SubElement(drawn, "title").text = _text(f"Route {route.name}")
    by_site: Mapping[str, MapSite] = {s.site: s for s in sites}
    placed: list[Box] = [
        (p.x - _MARK, p.y - _MARK, p.x + _MARK, p.y + _MARK) for p in points.values()
    ]
    for site in sites:
        p = points[site.site]
        group = ET.SubElement(svg, "g", {"class": f"site-mark {_text(site.kind)}"})
        ET.SubElement(group, "title").text = _text(f"{site.name} ({site.kind})")
        _marker(group, site.kind, p)
        _label(group, p, f"{site.name} ({site.kind})", placed=placed, css="site-label")
    for at in vehicles:
        if at.site not in by_site or not at.vehicles:
            continue
        p = points[at.site]
        group = ET.SubElement(svg, "g", {"class": "vehicles"})
        names = ", ".join(at.vehicles)
        ET.SubElement(group, "title").text = _text(f"At {by_site[at.site].name}: {names}")
        tip = (p.x, p.y + _MARK + 2)
        corners = [(tip[0], tip[1]), (tip[0] + 6, tip[1] + 10), (tip[0] - 6, tip[1] + 10)]
        ET.SubElement(group, "polygon", {
            "points": " ".join(f"{_n(x)},{_n(y)}" for x, y in corners), "class": "vehicle",
        })  # fmt: skip
        count = len(at.vehicles)
        text = at.vehicles[0] if count == 1 else f"{count} vehicles"
        _label(group, p, f"▲ {text}", placed=placed, css="vehicle-label")
    return ET.tostring(svg, encoding="unicode")
