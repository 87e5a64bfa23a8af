"""The route map's SVG: every point drawn inside the view box whatever the coordinates, always
well-formed XML, every name kept as text."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from safepassage.web.routemap import MARGIN, MapRoute, MapSite, VehiclesAt, project, route_map

NS = "{http://www.w3.org/2000/svg}"
KINDS = ("pickup", "checkpoint", "reception")

names = st.text(min_size=1, max_size=40)
lats = st.floats(min_value=-90, max_value=90, allow_nan=False, allow_infinity=False)
lons = st.floats(min_value=-180, max_value=180, allow_nan=False, allow_infinity=False)


@st.composite
def maps(draw: st.DrawFn) -> tuple[list[MapSite], list[MapRoute], list[VehiclesAt]]:
    count = draw(st.integers(min_value=1, max_value=8))
    same = draw(st.booleans())  # sometimes every site at one place
    lat, lon = draw(lats), draw(lons)
    sites = [
        MapSite(f"s{n}", draw(names), draw(st.sampled_from(KINDS)),
                lat if same else draw(lats), lon if same else draw(lons))
        for n in range(count)
    ]  # fmt: skip
    ids = [s.site for s in sites]
    routes = [
        MapRoute(f"r{n}", draw(names), tuple(draw(st.permutations(ids))[: draw(st.integers(2, 8))]))
        for n in range(draw(st.integers(0, 2)))
    ]
    vehicles = [
        VehiclesAt(draw(st.sampled_from(ids)), tuple(draw(st.lists(names, min_size=1, max_size=3))))
        for _ in range(draw(st.integers(0, 3)))
    ]
    return sites, routes, vehicles


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def drawn_points(svg: ET.Element) -> list[tuple[float, float]]:
    """Every point an element is drawn at (a label at its anchor plus its offset)."""
    points: list[tuple[float, float]] = []
    for e in svg.iter():
        tag = e.tag.removeprefix(NS)
        a = e.attrib
        if tag == "circle":
            r = float(a["r"])
            cx, cy = float(a["cx"]), float(a["cy"])
            points += [(cx - r, cy - r), (cx + r, cy + r)]
        elif tag == "rect":
            x, y = float(a["x"]), float(a["y"])
            points += [(x, y), (x + float(a["width"]), y + float(a["height"]))]
        elif tag in ("polyline", "polygon"):
            xy = _numbers(a["points"])
            points += list(zip(xy[::2], xy[1::2], strict=True))
        elif tag == "text":
            x, y = float(a["x"]), float(a["y"])
            points += [(x, y), (x + float(a.get("dx", 0)), y + float(a.get("dy", 0)))]
    return points


@given(maps())
def test_every_drawn_point_is_inside_the_view_box(drawn):
    sites, routes, vehicles = drawn
    svg = ET.fromstring(route_map(sites, routes, vehicles, title="t", description="d"))
    _, _, width, height = (float(v) for v in svg.attrib["viewBox"].split())
    points = drawn_points(svg)
    assert len(points) >= 2 * len(sites)
    for x, y in points:
        assert math.isfinite(x)
        assert math.isfinite(y)
        assert 0 <= x <= width
        assert 0 <= y <= height


@given(maps())
def test_sites_keep_their_margin_and_their_order_is_the_routes(drawn):
    sites, routes, _ = drawn
    points, height = project(sites)
    for p in points.values():
        assert MARGIN <= p.x <= 800 - MARGIN
        assert MARGIN <= p.y <= height - MARGIN
    svg = ET.fromstring(route_map(sites, routes, title="t", description="d"))
    lines = svg.findall(f"{NS}polyline")
    assert len(lines) == sum(1 for r in routes if len(r.sites) >= 2)
    for line, route in zip(lines, [r for r in routes if len(r.sites) >= 2], strict=True):
        xy = _numbers(line.attrib["points"])
        assert len(xy) == 2 * len(route.sites)


@given(st.lists(names, min_size=1, max_size=5), st.text(max_size=30))
def test_names_and_titles_stay_text(given_names, title):
    sites = [MapSite(f"s{n}", name, KINDS[n % 3], 47 + n / 10, 37 - n / 10)
             for n, name in enumerate(given_names)]  # fmt: skip
    text = route_map(sites, title=title, description="<desc>", ident="m")
    svg = ET.fromstring(text)  # well-formed whatever the names hold
    labels = [t.text for t in svg.iter(f"{NS}text")]

    def kept(value: str) -> str:  # one line, and what XML can hold: the rest is replaced
        value = re.sub("[\t\n\r]", " ", value)
        return re.sub("[^\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "\ufffd", value)

    for site in sites:
        assert f"{kept(site.name)} ({site.kind})" in labels
    assert svg.find(f"{NS}desc").text == "<desc>"


def test_markup_in_a_name_is_escaped():
    sites = [MapSite("a", 'Camp <b>&"x"</b>', "pickup", 47.1, 37.6),
             MapSite("b", "End", "reception", 47.8, 35.1)]  # fmt: skip
    text = route_map(sites, [MapRoute("r", "<r>", ("a", "b"))], title="<t>", description="d")
    assert "<b>" not in text
    assert "&lt;b&gt;&amp;" in text
    svg = ET.fromstring(text)
    assert svg.find(f"{NS}title").text == "<t>"
    assert 'Camp <b>&"x"</b> (pickup)' in [t.text for t in svg.iter(f"{NS}text")]


def test_one_site_and_identical_sites_are_drawn_in_the_middle():
    one, height = project([MapSite("a", "A", "pickup", 10, 20)])
    assert (one["a"].x, one["a"].y) == (400, height / 2)
    twins, height = project(
        [MapSite("a", "A", "pickup", 10, 20), MapSite("b", "B", "reception", 10, 20)]
    )
    assert twins["a"] == twins["b"]


def test_a_route_across_the_antimeridian_stays_short():
    sites = [MapSite("a", "A", "pickup", -17, 179.5), MapSite("b", "B", "reception", -17.5, -179.5)]
    points, _ = project(sites)
    # drawn close together across 180 degrees, not at the two ends of the world
    assert abs(points["a"].x - points["b"].x) < 800 - 2 * MARGIN + 1
    assert points["a"].x < points["b"].x


def test_the_map_is_accessible():
    sites = [MapSite("a", "A", "pickup", 47.1, 37.6), MapSite("b", "B", "checkpoint", 47.2, 37.0),
             MapSite("c", "C", "reception", 47.8, 35.1)]  # fmt: skip
    svg = ET.fromstring(
        route_map(
            sites,
            [MapRoute("r", "R", ("a", "b", "c"))],
            [VehiclesAt("b", ("bus-1",))],
            title="Map",
            description="Three sites",
            ident="m",
        )
    )
    assert svg.attrib["role"] == "img"
    assert svg.attrib["aria-labelledby"] == "m-title m-desc"
    assert svg.find(f"{NS}title").attrib["id"] == "m-title"
    assert svg.find(f"{NS}desc").attrib["id"] == "m-desc"
    # told apart by shape: a square, a diamond, a circle (and a written kind in each label)
    assert len(svg.findall(f".//{NS}rect")) == 1
    assert len(svg.findall(f".//{NS}circle")) == 1
    assert any("checkpoint" in (p.get("class") or "") for p in svg.iter(f"{NS}polygon"))
    assert "▲ bus-1" in [t.text for t in svg.iter(f"{NS}text")]
