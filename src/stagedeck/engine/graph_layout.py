"""Lay out the dependency DAG as text: layers as columns, edges routed between them.

The graph view draws this; it lives in the core (no Textual) so it can be tested
as plain text, without a terminal.

Layout, in the usual layered-graph steps:

1. **Layers.** :meth:`DependencyGraph.layers` puts dependencies left of the
   services that use them. An edge that skips layers gets a *dummy* item in
   every layer it passes, so the edge runs straight through that column
   between the boxes instead of over them.
2. **Order within a layer.** Barycentre sweeps plus adjacent swaps, keeping
   the order with the fewest crossings (ties keep the recipe order).
3. **Rows.** Each item is pulled towards the median row of its neighbours,
   keeping the layer's order and a blank row between boxes (an isotonic
   regression solved by pool-adjacent-violators), so straight edges are
   straight.
4. **Channels.** Between two columns every edge that changes row gets a
   vertical *lane*. Edges into one service share a lane (fan-in), as do
   edges out of one service (fan-out); lanes are ordered to avoid
   ambiguous joins and then crossings. Where two unrelated lines cross, the
   vertical line wins (``│``) so a crossing never looks like a junction.

The result is a grid of characters plus a :class:`Role` per cell, so a view
can colour a node's box by its health and highlight the edges of a selection.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stagedeck.engine.graph import DependencyGraph

Edge = tuple[str, str]
"""``(dependency, dependent)``: drawn left to right, with the arrow at the dependent."""

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8

BOX_HEIGHT = 3
"""A node is a three-row box: border, ``marker name``, border."""
MIN_CHANNEL = 5
"""Columns between two layers when every edge is straight (``────▶``)."""
EXHAUSTIVE_LANES = 5
"""Up to this many lanes in a channel, every lane order is tried; beyond, local search."""
SEARCH_LANES = 40
"""Beyond this many lanes, the lanes keep the order of their middles, unsearched. Each
trial scores the whole channel, so the search grows faster than the square of the lanes:
500 services (about 200 lanes in a channel) took minutes of CPU, starving the cockpit."""


@dataclass(frozen=True, slots=True)
class Glyphs:
    """The characters a layout is drawn with."""

    lines: Mapping[int, str]
    """Line character by the directions (UP|DOWN|LEFT|RIGHT bits) it connects."""
    crossing: str
    """Two unrelated lines crossing: drawn as the vertical line, not as a junction."""
    arrow: str
    box: str
    """Node box corners and sides: top-left, top-right, bottom-left, bottom-right, ─, │."""
    port: str
    """The box's right side where its outgoing edges leave."""


def _line_table(h: str, v: str, corners: Sequence[str]) -> dict[int, str]:
    dr, dl, ur, ul, udr, udl, lrd, lru, cross = corners
    return {
        LEFT: h,
        RIGHT: h,
        LEFT | RIGHT: h,
        UP: v,
        DOWN: v,
        UP | DOWN: v,
        DOWN | RIGHT: dr,
        DOWN | LEFT: dl,
        UP | RIGHT: ur,
        UP | LEFT: ul,
        UP | DOWN | RIGHT: udr,
        UP | DOWN | LEFT: udl,
        LEFT | RIGHT | DOWN: lrd,
        LEFT | RIGHT | UP: lru,
        UP | DOWN | LEFT | RIGHT: cross,
    }


UNICODE = Glyphs(
    lines=_line_table("─", "│", "┌┐└┘├┤┬┴┼"),
    crossing="│",
    arrow="▶",
    box="╭╮╰╯─│",
    port="├",
)
ASCII = Glyphs(
    lines=_line_table("-", "|", "+++++++++"),
    crossing="|",
    arrow=">",
    box="++++-|",
    port="+",
)


@dataclass(frozen=True, slots=True)
class Role:
    """What a cell belongs to. Cells share Role instances, so compare them with ``==``."""

    node: str | None = None
    part: str = ""
    """For node cells: ``border``, ``marker`` or ``label``."""
    edges: frozenset[Edge] = frozenset()
    """For edge cells: every edge drawn through the cell (more than one at a join)."""

    @property
    def kind(self) -> str:
        return "node" if self.node is not None else ("edge" if self.edges else "plain")

    @property
    def name(self) -> str:
        """``node:<name>``, ``edge:<from>-><to>`` (the first, for a shared cell) or ``plain``."""
        if self.node is not None:
            return f"node:{self.node}"
        if self.edges:
            a, b = min(self.edges)
            return f"edge:{a}->{b}"
        return "plain"


PLAIN = Role()


@dataclass(frozen=True, slots=True)
class Cell:
    char: str
    role: Role


@dataclass(frozen=True, slots=True)
class NodeBox:
    """Where a service's box is."""

    name: str
    layer: int
    x: int
    y: int
    width: int
    height: int
    marker: tuple[int, int]
    """The cell a view fills with a health symbol (a space in the layout)."""

    @property
    def centre_row(self) -> int:
        return self.y + self.height // 2


@dataclass(frozen=True)
class GraphLayout:
    rows: tuple[str, ...]
    roles: tuple[tuple[Role, ...], ...]
    nodes: Mapping[str, NodeBox]
    order: tuple[str, ...]
    """Visual order: column by column, top to bottom (also a topological order)."""
    edges: tuple[Edge, ...]
    ascii: bool = False
    crossings: int = 0
    """Places where two unrelated lines cross."""
    unclear: int = 0
    """Source-target pairs that look connected to a reader tracing lines against the arrows."""
    ambiguous: int = 0
    """Source-target pairs that look connected even following the arrows (0 in practice)."""
    _width: int = field(default=0, repr=False)

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return len(self.rows)

    def cell(self, x: int, y: int) -> Cell:
        return Cell(self.rows[y][x], self.roles[y][x])

    def text(self, markers: Mapping[str, str] | None = None) -> str:
        """The drawing as plain text (trailing spaces removed); ``markers`` fill node markers."""
        rows = [list(r) for r in self.rows]
        for name, mark in (markers or {}).items():
            box = self.nodes.get(name)
            if box is not None and mark:
                mx, my = box.marker
                rows[my][mx] = mark[0]
        return "\n".join("".join(r).rstrip() for r in rows)

    def runs(self, y: int) -> list[tuple[int, str, Role]]:
        """Row ``y`` as maximal runs of cells that share a role: (x, text, role)."""
        row, roles = self.rows[y], self.roles[y]
        out: list[tuple[int, str, Role]] = []
        start = 0
        for x in range(1, len(row) + 1):
            if x == len(row) or roles[x] != roles[start]:
                out.append((start, row[start:x], roles[start]))
                start = x
        return out


# --------------------------------------------------------------------------- items


@dataclass(slots=True, eq=False)
class _Item:
    """A box (a service) or a dummy (an edge passing through a layer)."""

    key: str
    layer: int
    node: str | None = None
    edge: Edge | None = None
    y: int = 0

    @property
    def height(self) -> int:
        return BOX_HEIGHT if self.node is not None else 1

    @property
    def port(self) -> int:
        return self.y + (BOX_HEIGHT // 2 if self.node is not None else 0)


@dataclass(frozen=True, slots=True)
class _Segment:
    """One hop of an edge between adjacent layers."""

    src: str
    tgt: str
    edge: Edge


def layout_graph(graph: DependencyGraph, *, ascii: bool = False) -> GraphLayout:
    """Lay ``graph`` out left to right: dependencies in the left column, arrows at dependents."""
    glyphs = ASCII if ascii else UNICODE
    layers = graph.layers()
    nodes = set(graph.nodes)
    layer_of = {n: i for i, layer in enumerate(layers) for n in layer}
    edges: list[Edge] = []
    for name in graph.nodes:
        for dep in dict.fromkeys(graph.dependencies(name)):
            if dep in nodes and dep != name:
                edges.append((dep, name))

    items: dict[str, _Item] = {}
    order: list[list[str]] = [[] for _ in layers]
    for i, layer in enumerate(layers):
        for name in layer:
            items[name] = _Item(name, i, node=name)
            order[i].append(name)
    channels: list[list[_Segment]] = [[] for _ in range(max(0, len(layers) - 1))]
    for dep, user in edges:
        prev = dep
        for i in range(layer_of[dep] + 1, layer_of[user]):
            key = f"\0{dep}->{user}@{i}"
            items[key] = _Item(key, i, edge=(dep, user))
            order[i].append(key)
            channels[i - 1].append(_Segment(prev, key, (dep, user)))
            prev = key
        channels[layer_of[user] - 1].append(_Segment(prev, user, (dep, user)))

    order = _order_layers(order, channels)
    _assign_rows(order, channels, items)

    widths = [max((len(n) for n in layer), default=0) + 6 for layer in layers]
    routes = [_route(ch, items) for ch in channels]
    lefts: list[int] = []
    x = 0
    for i, w in enumerate(widths):
        lefts.append(x)
        x += w + (routes[i].width if i < len(routes) else 0)
    width = x
    height = max((it.y + it.height for it in items.values()), default=0)

    canvas = _Canvas(width, height)
    boxes: dict[str, NodeBox] = {}
    outgoing = {seg.src for ch in channels for seg in ch}
    for i, keys in enumerate(order):
        for key in keys:
            item = items[key]
            if item.node is None:
                assert item.edge is not None
                for cx in range(lefts[i], lefts[i] + widths[i]):
                    canvas.add(cx, item.y, LEFT | RIGHT, frozenset({item.edge}), item.key)
                continue
            boxes[item.node] = _draw_box(
                canvas, glyphs, item, lefts[i], widths[i], item.key in outgoing
            )
    for i, route in enumerate(routes):
        route.paint(canvas, glyphs, lefts[i] + widths[i], items, i)

    rows, roles = canvas.render(glyphs)
    visual = [k for keys in order for k in keys if items[k].node is not None]
    return GraphLayout(
        rows=rows,
        roles=roles,
        nodes=boxes,
        order=tuple(visual),
        edges=tuple(edges),
        ascii=ascii,
        crossings=sum(r.score[0] for r in routes),
        unclear=sum(r.score[1] for r in routes),
        ambiguous=sum(r.score[2] for r in routes),
        _width=width,
    )


# --------------------------------------------------------------------------- ordering


def _crossings(upper: Sequence[str], lower: Sequence[str], segs: Sequence[_Segment]) -> int:
    pu = {k: i for i, k in enumerate(upper)}
    pl = {k: i for i, k in enumerate(lower)}
    pairs = sorted((pu[s.src], pl[s.tgt]) for s in segs)
    count = 0
    for i, (a1, b1) in enumerate(pairs):
        for a2, b2 in pairs[i + 1 :]:
            if a2 > a1 and b2 < b1:
                count += 1
    return count


def _total_crossings(order: Sequence[Sequence[str]], channels: Sequence[Sequence[_Segment]]) -> int:
    return sum(_crossings(order[i], order[i + 1], ch) for i, ch in enumerate(channels))


def _order_layers(
    order: list[list[str]], channels: list[list[_Segment]], sweeps: int = 8
) -> list[list[str]]:
    """Barycentre sweeps and adjacent swaps; the order with the fewest crossings wins."""
    if len(order) < 2:
        return order
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for ch in channels:
        for s in ch:
            up.setdefault(s.tgt, []).append(s.src)
            down.setdefault(s.src, []).append(s.tgt)

    def sort_by(layer: list[str], ref: list[str], nbrs: dict[str, list[str]]) -> list[str]:
        pos = {k: i for i, k in enumerate(ref)}

        def key(item: tuple[int, str]) -> float:
            index, k = item
            ns = [pos[n] for n in nbrs.get(k, ()) if n in pos]
            return sum(ns) / len(ns) if ns else float(index)

        return [k for _, k in sorted(enumerate(layer), key=key)]

    best = [list(layer) for layer in order]
    best_cost = _total_crossings(best, channels)
    current = [list(layer) for layer in order]
    for sweep in range(sweeps):
        if best_cost == 0:
            break
        if sweep % 2 == 0:
            for i in range(1, len(current)):
                current[i] = sort_by(current[i], current[i - 1], up)
        else:
            for i in range(len(current) - 2, -1, -1):
                current[i] = sort_by(current[i], current[i + 1], down)
        _transpose(current, channels)
        cost = _total_crossings(current, channels)
        if cost < best_cost:
            best, best_cost = [list(layer) for layer in current], cost
    return best


def _transpose(order: list[list[str]], channels: list[list[_Segment]]) -> None:
    """Swap neighbours in a layer while that lowers the crossings around them."""
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for ch in channels:
        for s in ch:
            up.setdefault(s.tgt, []).append(s.src)
            down.setdefault(s.src, []).append(s.tgt)
    pos = {k: i for layer in order for i, k in enumerate(layer)}

    def crossings(a: str, b: str) -> int:
        """Crossings between the edges of ``a`` and ``b`` when ``a`` comes first."""
        count = 0
        for nbrs in (up, down):
            for x in nbrs.get(a, ()):
                px = pos[x]
                count += sum(1 for y in nbrs.get(b, ()) if pos[y] < px)
        return count

    for _ in range(10):
        improved = False
        for layer in order:
            for j in range(len(layer) - 1):
                a, b = layer[j], layer[j + 1]
                if crossings(b, a) < crossings(a, b):
                    layer[j], layer[j + 1] = b, a
                    pos[a], pos[b] = j + 1, j
                    improved = True
        if not improved:
            break


# --------------------------------------------------------------------------- rows


def _isotonic(targets: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Non-decreasing sequence closest to ``targets`` in weighted least squares (PAV)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for t, w in zip(targets, weights, strict=True):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            weight = w1 + w2
            blocks.append([(m1 * w1 + m2 * w2) / weight, weight, c1 + c2])
    out: list[float] = []
    for mean, _, count in blocks:
        out.extend([mean] * int(count))
    return out


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _assign_rows(
    order: list[list[str]], channels: list[list[_Segment]], items: dict[str, _Item]
) -> None:
    """Pull each item towards the median port row of its neighbours, keeping order and gaps."""
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for ch in channels:
        for s in ch:
            up.setdefault(s.tgt, []).append(s.src)
            down.setdefault(s.src, []).append(s.tgt)

    def offsets(keys: list[str]) -> list[int]:
        out, y = [], 0
        for j, k in enumerate(keys):
            if j:
                prev = items[keys[j - 1]]
                gap = 1 if (prev.node is not None or items[k].node is not None) else 0
                y += prev.height + gap
            out.append(y)
        return out

    def place(keys: list[str], nbrs: Sequence[dict[str, list[str]]]) -> None:
        if not keys:
            return
        offs = offsets(keys)
        wanted: list[float | None] = []
        weights: list[float] = []
        for k, off in zip(keys, offs, strict=True):
            item = items[k]
            ports = [float(items[n].port) for d in nbrs for n in d.get(k, ())]
            if not ports:
                wanted.append(None)
                weights.append(0.1)
                continue
            wanted.append(_median(ports) - (item.port - item.y) - off)
            # Dummies weigh more: a long edge is worth keeping straight.
            weights.append(2.0 if item.node is None else 1.0)
        # An item with no neighbours on this side packs up against the item before it.
        known = [w for w in wanted if w is not None]
        last = known[0] if known else 0.0
        targets: list[float] = []
        for w in wanted:
            last = w if w is not None else last
            targets.append(last)
        z = _isotonic(targets, weights)
        previous = None
        for k, off, zk in zip(keys, offs, z, strict=True):
            r = round(zk)
            if previous is not None and r < previous:
                r = previous
            previous = r
            items[k].y = r + off

    for keys in order:
        for k, y in zip(keys, offsets(keys), strict=True):
            items[k].y = y
    for _ in range(4):
        for i in range(1, len(order)):
            place(order[i], (up,))
        for i in range(len(order) - 2, -1, -1):
            place(order[i], (down,))
    for i in range(1, len(order)):
        place(order[i], (up,))
    top = min((it.y for it in items.values()), default=0)
    for it in items.values():
        it.y -= top


# --------------------------------------------------------------------------- canvas


class _Canvas:
    """Cells as line contributions (direction bits, edges, lane group); glyphs chosen last."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.fixed: dict[tuple[int, int], tuple[str, Role]] = {}
        self.lines: dict[tuple[int, int], list[tuple[int, frozenset[Edge], object]]] = {}

    def put(self, x: int, y: int, char: str, role: Role) -> None:
        self.fixed[(x, y)] = (char, role)

    def add(self, x: int, y: int, bits: int, edges: frozenset[Edge], group: object) -> None:
        self.lines.setdefault((x, y), []).append((bits, edges, group))

    def render(self, glyphs: Glyphs) -> tuple[tuple[str, ...], tuple[tuple[Role, ...], ...]]:
        chars = [[" "] * self.width for _ in range(self.height)]
        roles: list[list[Role]] = [[PLAIN] * self.width for _ in range(self.height)]
        interned: dict[Role, Role] = {}

        def intern(role: Role) -> Role:
            return interned.setdefault(role, role)

        for (x, y), parts in self.lines.items():
            bits = 0
            edges: set[Edge] = set()
            for b, e, _ in parts:
                bits |= b
                edges |= e
            chars[y][x] = glyphs.crossing if _crosses(parts) else glyphs.lines.get(bits, " ")
            roles[y][x] = intern(Role(edges=frozenset(edges)))
        for (x, y), (char, role) in self.fixed.items():
            chars[y][x] = char
            roles[y][x] = intern(role)
        return (
            tuple("".join(r) for r in chars),
            tuple(tuple(r) for r in roles),
        )


def _crosses(parts: Sequence[tuple[int, frozenset[Edge], object]]) -> bool:
    """Lines of different lanes that only pass through each other cross; they do not join."""
    across = {g for b, _, g in parts if b == LEFT | RIGHT}
    along = {g for b, _, g in parts if b == UP | DOWN}
    pure = all(b in (LEFT | RIGHT, UP | DOWN) for b, _, _ in parts)
    return pure and bool(across) and bool(along) and not (across & along)


def _draw_box(
    canvas: _Canvas, glyphs: Glyphs, item: _Item, x: int, width: int, has_out: bool
) -> NodeBox:
    assert item.node is not None
    name = item.node
    tl, tr, bl, br, h, v = tuple(glyphs.box)
    border = Role(node=name, part="border")
    label = Role(node=name, part="label")
    marker = Role(node=name, part="marker")
    y = item.y
    for cx in range(x, x + width):
        canvas.put(cx, y, h, border)
        canvas.put(cx, y + 2, h, border)
    canvas.put(x, y, tl, border)
    canvas.put(x + width - 1, y, tr, border)
    canvas.put(x, y + 2, bl, border)
    canvas.put(x + width - 1, y + 2, br, border)
    canvas.put(x, y + 1, v, border)
    canvas.put(x + width - 1, y + 1, glyphs.port if has_out else v, border)
    canvas.put(x + 1, y + 1, " ", label)
    canvas.put(x + 2, y + 1, " ", marker)
    text = " " + name.ljust(width - 5)
    for i, ch in enumerate(text):
        canvas.put(x + 3 + i, y + 1, ch, label)
    return NodeBox(name, item.layer, x, y, width, BOX_HEIGHT, (x + 2, y + 1))


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class _Piece:
    """A straight run of an edge inside a channel, for scoring a lane order."""

    vertical: bool
    group: int
    """Lane group; straight-across segments get a negative group of their own."""
    row: int
    """Horizontal pieces: their row. Vertical pieces: their first row."""
    end: int
    """Vertical pieces: their last row."""
    side: str
    """Horizontal pieces: ``src`` (channel start to lane), ``tgt`` (lane to end), ``all``."""
    segs: frozenset[_Segment]
    anchor: int = 0
    """Vertical pieces: where lines flow from (a fan-out's source row) or to (a fan-in's
    target row): a reader follows a lane away from a source or towards a target."""
    fan_in: bool = False

    def flows(self, start: int, row: int) -> bool:
        """Can a reader on this lane at ``start`` follow it to ``row``?"""
        if self.fan_in:
            return min(start, self.anchor) <= row <= max(start, self.anchor)
        return row >= start if start >= self.anchor else row <= start


@dataclass
class _Route:
    """One channel: each group of segments that changes row shares one vertical lane."""

    segments: list[_Segment]
    groups: list[list[_Segment]]
    lanes: list[int]
    """Lane position of each group, left to right."""
    score: tuple[int, int, int] = (0, 0, 0)
    """Crossings, false connections (tracing lines either way), false ones (with arrows)."""

    @property
    def width(self) -> int:
        return max(MIN_CHANNEL, 2 * len(self.groups) + 4)

    def paint(
        self, canvas: _Canvas, glyphs: Glyphs, x0: int, items: dict[str, _Item], tag: int
    ) -> None:
        arrow_x = x0 + self.width - 1
        arrows: dict[int, set[Edge]] = {}

        def line(x: int, y: int, bits: int, s: _Segment, group: object) -> None:
            if x == arrow_x and items[s.tgt].node is not None:
                arrows.setdefault(y, set()).add(s.edge)
            else:
                canvas.add(x, y, bits, frozenset({s.edge}), group)

        grouped: set[_Segment] = set()
        for g, segs in enumerate(self.groups):
            grouped.update(segs)
            lx = x0 + 2 + 2 * self.lanes[g]
            rows = [items[s.src].port for s in segs] + [items[s.tgt].port for s in segs]
            top, bottom = min(rows), max(rows)
            edges = frozenset(s.edge for s in segs)
            for y in range(top, bottom + 1):
                bits = (UP if y > top else 0) | (DOWN if y < bottom else 0)
                canvas.add(lx, y, bits, edges, (tag, g))
            for s in segs:
                ys, yt = items[s.src].port, items[s.tgt].port
                for x in range(x0, lx):
                    line(x, ys, LEFT | RIGHT, s, (tag, g))
                line(lx, ys, LEFT, s, (tag, g))
                line(lx, yt, RIGHT, s, (tag, g))
                for x in range(lx + 1, arrow_x + 1):
                    line(x, yt, LEFT | RIGHT, s, (tag, g))
        for i, s in enumerate(self.segments):
            if s not in grouped:
                for x in range(x0, arrow_x + 1):
                    line(x, items[s.src].port, LEFT | RIGHT, s, (tag, "straight", i))
        for y, into in arrows.items():
            canvas.put(arrow_x, y, glyphs.arrow, Role(edges=frozenset(into)))


def _route(segments: list[_Segment], items: dict[str, _Item]) -> _Route:
    """Group the segments that bend into lanes and order the lanes; the cheapest wins."""
    every = frozenset((s.src, s.tgt) for s in segments)
    bent = [s for s in segments if items[s.src].port != items[s.tgt].port]
    candidates = [_group(bent, fan_in_first=True), _group(bent, fan_in_first=False)]
    candidates.append([[s] for s in bent])
    best: tuple[int, _Route] | None = None
    for grouping in candidates:
        lanes, cost, score = _order_lanes(grouping, segments, items, every)
        if best is None or cost < best[0]:
            best = (cost, _Route(segments, grouping, lanes, score))
        if cost < UNCLEAR:
            break
    assert best is not None
    return best[1]


AMBIGUOUS = 1000
"""Cost of a false connection even a reader who follows the arrows would see."""
UNCLEAR = 100
"""Cost of a false connection only a reader tracing lines backwards would see."""


def _group(bent: list[_Segment], *, fan_in_first: bool) -> list[list[_Segment]]:
    """Greedy: the largest shared target (fan-in) or shared source (fan-out) first."""
    left = list(bent)
    groups: list[list[_Segment]] = []
    while left:
        candidates: dict[tuple[int, str], list[_Segment]] = {}
        for s in left:
            candidates.setdefault((0 if fan_in_first else 1, s.tgt), []).append(s)
            candidates.setdefault((1 if fan_in_first else 0, s.src), []).append(s)
        key = max(candidates, key=lambda k: (len(candidates[k]), -k[0]))
        chosen = candidates[key]
        groups.append(chosen)
        left = [s for s in left if s not in chosen]
    return groups


def _pieces(
    groups: list[list[_Segment]], segments: list[_Segment], items: dict[str, _Item]
) -> list[_Piece]:
    out: list[_Piece] = []
    grouped: set[_Segment] = set()
    for g, segs in enumerate(groups):
        grouped.update(segs)
        rows = [items[s.src].port for s in segs] + [items[s.tgt].port for s in segs]
        fan_in = len({s.tgt for s in segs}) == 1
        anchor = items[segs[0].tgt if fan_in else segs[0].src].port
        out.append(_Piece(True, g, min(rows), max(rows), "", frozenset(segs), anchor, fan_in))
        for s in segs:
            out.append(_Piece(False, g, items[s.src].port, 0, "src", frozenset({s})))
            out.append(_Piece(False, g, items[s.tgt].port, 0, "tgt", frozenset({s})))
    for i, s in enumerate(segments):
        if s not in grouped:
            out.append(_Piece(False, -1 - i, items[s.src].port, 0, "all", frozenset({s})))
    return out


def _span(piece: _Piece, lanes: Sequence[int], count: int) -> tuple[int, int]:
    """A horizontal piece's extent in lane positions (-1: channel start, count: its end)."""
    if piece.side == "src":
        return -1, lanes[piece.group]
    if piece.side == "tgt":
        return lanes[piece.group], count
    return -1, count


class _Scorer:
    """Scores lane orders: 1 per crossing, :data:`AMBIGUOUS` per false connection.

    A false connection is a target a reader reaches from a source it does not
    feed, tracing lines the way arrows point: rightwards along horizontal runs,
    either way along lanes, turning only where lines join (not where they cross).
    """

    def __init__(self, pieces: list[_Piece], every: frozenset[tuple[str, str]]) -> None:
        self.pieces = pieces
        self.every = every
        self.last = (0, 0, 0)
        # Which pairs can touch at all depends only on rows; which do, on the lane order.
        self.hv: list[tuple[int, int]] = []
        self.hh: list[tuple[int, int]] = []
        for i, h in enumerate(pieces):
            if h.vertical:
                continue
            for j, other in enumerate(pieces):
                if other.vertical:
                    if other.group != h.group and other.row <= h.row <= other.end:
                        self.hv.append((i, j))
                elif j > i and other.row == h.row:
                    self.hh.append((i, j))
        self.lane_of: dict[int, int] = {p.group: i for i, p in enumerate(pieces) if p.vertical}
        self.starts: dict[str, list[int]] = {}
        for i, piece in enumerate(pieces):
            if piece.side in ("src", "all"):
                (seg,) = piece.segs
                self.starts.setdefault(seg.src, []).append(i)

    def cost(self, lanes: Sequence[int]) -> int:
        pieces = self.pieces
        count = len(lanes)
        spans = [(0, 0) if p.vertical else _span(p, lanes, count) for p in pieces]
        # joins[i]: (position on piece i, piece j, position on piece j)
        joins: dict[int, list[tuple[int, int, int]]] = {}

        def join(i: int, at_i: int, j: int, at_j: int) -> None:
            joins.setdefault(i, []).append((at_i, j, at_j))

        for i, piece in enumerate(pieces):
            if not piece.vertical and piece.group >= 0:
                lane = self.lane_of[piece.group]
                join(i, lanes[piece.group], lane, piece.row)
                join(lane, piece.row, i, lanes[piece.group])
        crossings = 0
        for i, j in self.hv:
            h, v = pieces[i], pieces[j]
            x0, x1 = spans[i]
            p = lanes[v.group]
            if not x0 <= p <= x1:
                continue
            if x0 < p < x1 and v.row < h.row < v.end:
                crossings += 1
            else:
                join(i, p, j, h.row)
                join(j, h.row, i, p)
        for i, j in self.hh:
            (a0, a1), (b0, b1) = spans[i], spans[j]
            lo, hi = max(a0, b0), min(a1, b1)
            if lo <= hi:
                join(i, hi, j, hi)
                join(j, hi, i, hi)
                # Overlapping runs are one line: whoever is on it at ``lo`` is on both.
                join(i, lo, j, lo)
                join(j, lo, i, lo)
        strict = self._false(joins, count, flow=False)
        loose = self._false(joins, count, flow=True)
        self.last = (crossings, strict, loose)
        return crossings + UNCLEAR * (strict - loose) + AMBIGUOUS * loose

    def _false(self, joins: dict[int, list[tuple[int, int, int]]], count: int, flow: bool) -> int:
        pieces = self.pieces
        false = 0
        for src, starts in self.starts.items():
            reached: set[str] = set()
            best: dict[int, int] = {}
            entered: set[tuple[int, int]] = set()
            todo = [(i, -1) for i in starts]
            while todo:
                i, at = todo.pop()
                piece = pieces[i]
                if piece.vertical:
                    if (i, at if flow else 0) in entered:
                        continue
                    entered.add((i, at if flow else 0))
                elif best.get(i, count + 1) <= at:
                    continue
                else:
                    best[i] = at
                if not piece.vertical and piece.side in ("tgt", "all"):
                    (seg,) = piece.segs
                    reached.add(seg.tgt)
                for at_i, j, at_j in joins.get(i, ()):
                    if not piece.vertical:
                        ok = at_i >= at
                    else:
                        ok = piece.flows(at, at_i) if flow else True
                    if ok:
                        todo.append((j, at_j))
            false += sum(1 for t in reached if (src, t) not in self.every)
        return false


def _order_lanes(
    groups: list[list[_Segment]],
    segments: list[_Segment],
    items: dict[str, _Item],
    every: frozenset[tuple[str, str]],
) -> tuple[list[int], int, tuple[int, int, int]]:
    """A lane position for each group, what that order costs, and its score."""
    n = len(groups)
    scorer = _Scorer(_pieces(groups, segments, items), every)

    def lanes_of(perm: Sequence[int]) -> list[int]:
        lanes = [0] * n
        for position, g in enumerate(perm):
            lanes[g] = position
        return lanes

    best: tuple[int, list[int], tuple[int, int, int]] | None = None

    def consider(perm: Sequence[int]) -> bool:
        nonlocal best
        lanes = lanes_of(perm)
        cost = scorer.cost(lanes)
        if best is None or cost < best[0]:
            best = (cost, lanes, scorer.last)
            return True
        return False

    if n <= EXHAUSTIVE_LANES:
        for candidate in itertools.permutations(range(n)):
            consider(candidate)
            assert best is not None
            if best[0] == 0:
                break
    else:

        def middle(g: int) -> float:
            rows = [items[s.src].port for s in groups[g]] + [items[s.tgt].port for s in groups[g]]
            return (min(rows) + max(rows)) / 2

        perm = sorted(range(n), key=middle)
        consider(perm)
        for _ in range(2 * n if n <= SEARCH_LANES else 0):
            improved = False
            for j in range(n - 1):
                perm[j], perm[j + 1] = perm[j + 1], perm[j]
                if consider(perm):
                    improved = True
                else:
                    perm[j], perm[j + 1] = perm[j + 1], perm[j]
            if not improved or (best is not None and best[0] == 0):
                break
    assert best is not None
    return best[1], best[0], best[2]
