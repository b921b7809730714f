"""The graph layout (exact text for the demo graph) and sparklines: core, no Textual."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from stagedeck.engine.graph import DependencyGraph
from stagedeck.engine.graph_layout import (
    ASCII,
    DOWN,
    LEFT,
    RIGHT,
    UNICODE,
    UP,
    GraphLayout,
    layout_graph,
)
from stagedeck.engine.latency import LatencyWindow
from stagedeck.engine.sparkline import latency_sparkline, sparkline, squeeze

DEMO = {
    "ledger": [],
    "inventory": [],
    "payments": [],
    "orders": ["inventory", "payments", "ledger"],
    "gateway": ["orders", "inventory"],
    "worker": ["orders", "ledger"],
}

DEMO_UNICODE = """\
╭─────────────╮
│   ledger    ├────┬─────────────────────┐
╰─────────────╯    │                     │   ╭───────────╮
                   │                 ┌───┴──▶│   worker  │
╭─────────────╮    │   ╭──────────╮  │       ╰───────────╯
│   payments  ├──┬─┴──▶│   orders ├──┤
╰─────────────╯  │     ╰──────────╯  │       ╭───────────╮
                 │                   └─┬────▶│   gateway │
╭─────────────╮  │                     │     ╰───────────╯
│   inventory ├──┴─────────────────────┘
╰─────────────╯"""

DEMO_ASCII = """\
+-------------+
|   ledger    +----+---------------------+
+-------------+    |                     |   +-----------+
                   |                 +---+-->|   worker  |
+-------------+    |   +----------+  |       +-----------+
|   payments  +--+-+-->|   orders +--+
+-------------+  |     +----------+  |       +-----------+
                 |                   +-+---->|   gateway |
+-------------+  |                     |     +-----------+
|   inventory +--+---------------------+
+-------------+"""


def demo(ascii: bool = False) -> GraphLayout:
    return layout_graph(DependencyGraph(DEMO), ascii=ascii)


# --------------------------------------------------------------------------- exact text


def test_demo_graph_box_drawing() -> None:
    layout = demo()
    assert layout.text() == DEMO_UNICODE
    assert layout.width <= 80, "the demo graph must fit an 80-column terminal"
    assert (layout.width, layout.height) == (58, 11)


def test_demo_graph_ascii() -> None:
    layout = demo(ascii=True)
    assert layout.text() == DEMO_ASCII
    assert all(ord(ch) < 128 for row in layout.rows for ch in row)


def test_markers_fill_the_marker_cell() -> None:
    text = demo().text(markers={"payments": "✖", "orders": "⚠", "nope": "?"})
    assert "│ ✖ payments  ├" in text
    assert "│ ⚠ orders ├" in text


def test_layers_are_columns_and_order_is_topological() -> None:
    layout = demo()
    boxes = layout.nodes
    assert {n: b.layer for n, b in boxes.items()} == {
        "ledger": 0,
        "inventory": 0,
        "payments": 0,
        "orders": 1,
        "gateway": 2,
        "worker": 2,
    }
    assert boxes["ledger"].x == boxes["inventory"].x < boxes["orders"].x < boxes["worker"].x
    order = list(layout.order)
    for name, deps in DEMO.items():
        assert all(order.index(d) < order.index(name) for d in deps)
    assert layout.crossings == 0 and layout.ambiguous == 0


def test_cell_roles() -> None:
    layout = demo()
    box = layout.nodes["orders"]
    assert layout.cell(box.x, box.y).role.name == "node:orders"
    mx, my = box.marker
    assert layout.cell(mx, my).role.part == "marker"
    assert layout.cell(mx + 2, my).char == "o"
    assert layout.cell(mx + 2, my).role.part == "label"
    # The arrow into orders carries every edge that joins there.
    arrow = layout.cell(box.x - 1, box.centre_row)
    assert arrow.char == "▶"
    assert arrow.role.edges == {
        ("ledger", "orders"),
        ("inventory", "orders"),
        ("payments", "orders"),
    }
    # The edge that skips a layer runs straight over orders, in orders' column.
    ledger_row = layout.nodes["ledger"].centre_row
    over = layout.cell(box.x + 2, ledger_row)
    assert over.char == "─" and over.role.name == "edge:ledger->worker"
    assert layout.cell(0, 3).role.name == "plain"
    # Runs split a row where roles change and cover it exactly.
    runs = layout.runs(box.centre_row)
    assert "".join(text for _, text, _ in runs) == layout.rows[box.centre_row]


def test_every_node_box_is_whole_and_boxes_do_not_overlap() -> None:
    layout = demo()
    taken: set[tuple[int, int]] = set()
    for name, box in layout.nodes.items():
        cells = {(x, y) for x in range(box.x, box.x + box.width) for y in range(box.y, box.y + 3)}
        assert not cells & taken
        taken |= cells
        assert all(layout.roles[y][x].node == name for x, y in cells)
        assert name in layout.rows[box.centre_row]


# --------------------------------------------------------------------------- reading


def traced(layout: GraphLayout) -> set[tuple[str, str]]:
    """Pairs a reader can trace from a source box to a target's arrow.

    Along lines only (never leftwards, against the arrows); through a crossing
    (drawn as the vertical line) straight on; at a junction, any way it joins.
    """
    glyphs = ASCII if layout.ascii else UNICODE
    bits_of: dict[str, int] = {}
    for bits, ch in glyphs.lines.items():
        bits_of[ch] = bits_of.get(ch, 0) | bits
    if layout.ascii:
        bits_of["+"] = UP | DOWN | LEFT | RIGHT
    arrows = {(b.x - 1, b.centre_row): n for n, b in layout.nodes.items()}
    step = {UP: (0, -1, DOWN), DOWN: (0, 1, UP), RIGHT: (1, 0, LEFT)}
    found: set[tuple[str, str]] = set()
    for name, box in layout.nodes.items():
        port = (box.x + box.width - 1, box.centre_row)
        if layout.rows[port[1]][port[0]] != glyphs.port:
            continue
        todo = [(port[0] + 1, port[1], LEFT)]
        seen: set[tuple[int, int, int]] = set()
        while todo:
            x, y, came = todo.pop()
            if (x, y, came) in seen or not (0 <= x < layout.width and 0 <= y < layout.height):
                continue
            seen.add((x, y, came))
            ch, role = layout.rows[y][x], layout.roles[y][x]
            if ch == glyphs.arrow:
                found.add((name, arrows[(x, y)]))
                continue
            if role.kind != "edge":
                continue
            if ch == glyphs.crossing and came in (LEFT, RIGHT):
                outs = [RIGHT]
            elif ch == glyphs.crossing and came in (UP, DOWN):
                outs = [UP if came == DOWN else DOWN]
            else:
                bits = bits_of.get(ch, 0)
                if not bits & came:
                    continue
                outs = [d for d in (UP, DOWN, RIGHT) if bits & d and d != came]
            for d in outs:
                dx, dy, back = step[d]
                todo.append((x + dx, y + dy, back))
    return found


def random_graph(seed: int, n: int, max_deps: int = 3) -> dict[str, list[str]]:
    rnd = random.Random(seed)
    names = [f"svc-{i}" for i in range(n)]
    return {
        name: [
            names[j]
            for j in rnd.sample(range(max(0, i - 12), i), min(i, rnd.randint(0, max_deps), 12))
        ]
        for i, name in enumerate(names)
    }


SHAPES = {
    "demo": DEMO,
    "chain": {"a": [], "b": ["a"], "c": ["b"], "d": ["c"]},
    "skip": {"a": [], "b": ["a"], "c": ["b", "a"], "d": ["c", "a"]},
    "fan-out": {"db": [], **{f"app{i}": ["db"] for i in range(5)}},
    "fan-in": {**{f"lib{i}": [] for i in range(5)}, "app": [f"lib{i}" for i in range(5)]},
    "diamond": {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]},
    "isolated": {"a": [], "b": [], "c": ["a"]},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("ascii", [False, True])
def test_reader_sees_exactly_the_edges(shape: str, ascii: bool) -> None:
    layout = layout_graph(DependencyGraph(SHAPES[shape]), ascii=ascii)
    seen = traced(layout)
    assert set(layout.edges) <= seen
    assert layout.ambiguous == 0
    if layout.unclear == 0:
        assert seen == set(layout.edges)
    assert set(layout.nodes) == set(SHAPES[shape])


def test_demo_false_paths_only_against_the_arrows() -> None:
    """In the demo, payments' line into orders touches the ends of the lanes bringing
    ledger and inventory in. Only someone walking a lane away from the arrow it feeds
    could take payments to worker or gateway; the layout reports those as unclear."""
    layout = demo()
    assert traced(layout) - set(layout.edges) == {
        ("payments", "worker"),
        ("payments", "gateway"),
        ("inventory", "worker"),
    }
    assert (layout.unclear, layout.ambiguous) == (3, 0)


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_every_edge_can_be_traced(seed: int) -> None:
    graph = DependencyGraph(random_graph(seed, 4 + seed % 12))
    layout = layout_graph(graph)
    seen = traced(layout)
    assert set(layout.edges) <= seen, "an edge that cannot be followed"
    if seen != set(layout.edges):
        # Only where the layout knows (and reports) that lines had to touch.
        assert layout.unclear > 0
    assert layout_graph(graph).rows == layout.rows, "layout must be deterministic"


def test_larger_graph_scrolls_rather_than_squeezes() -> None:
    graph = DependencyGraph(random_graph(7, 60))
    started = time.perf_counter()
    layout = layout_graph(graph)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"layout of 60 services took {elapsed:.1f}s"
    assert len(layout.nodes) == 60
    assert layout.width > 80 and layout.height > 24
    assert set(layout.edges) <= traced(layout)
    assert all(len(row) == layout.width for row in layout.rows)


def test_degenerate_graphs() -> None:
    empty = layout_graph(DependencyGraph({}))
    assert (empty.width, empty.height, empty.text()) == (0, 0, "")
    single = layout_graph(DependencyGraph({"solo": ["missing"]}))
    assert single.text() == "╭────────╮\n│   solo │\n╰────────╯"
    with pytest.raises(ValueError, match="cycle"):
        layout_graph(DependencyGraph({"a": ["b"], "b": ["a"]}))


# --------------------------------------------------------------------------- sparklines


def test_sparkline_levels_and_gaps() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8], 8) == "▁▂▃▄▅▆▇█"
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8], 8, ascii=True) == "_.-:=+*#"
    assert sparkline([120, 130, None, 180], 4) == "▁▂ █"
    assert sparkline([float("nan"), 1.0], 2) == " ▁"


def test_sparkline_width_padding_and_squeeze() -> None:
    assert sparkline([1, 2], 5) == "   ▁█"
    assert sparkline([], 3) == "   "
    assert sparkline([None, None], 2) == "  "
    assert sparkline([1, 2, 3], 0) == ""
    # A spike survives squeezing: each group keeps its largest value.
    assert squeeze([1, 1, 9, 1, 1, 1], 3) == [1, 9, 1]
    assert sparkline([1, 1, 9, 1, 1, 1], 3) == "▁█▁"


def test_sparkline_scale() -> None:
    assert sparkline([5, 5, 5], 3) == "▁▁▁"
    assert sparkline([100, 103], 2, lo=0) == "██"
    assert sparkline([50, 100, 150], 3, lo=0, hi=100) == "▅██"


def test_latency_sparkline_is_zero_based_per_bucket() -> None:
    window = LatencyWindow()
    t0 = 1_700_000_000.0
    for k in range(10):
        window.add(100.0 + 10 * k, at=t0 + 30 * k + 1)
    line = latency_sparkline(window, 10, bucket=30.0, now=t0 + 300)
    assert len(line) == 10
    assert line == "▅▅▅▆▆▇▇▇██"
    assert latency_sparkline(window, 10, bucket=30.0, now=t0 + 300, ascii=True) == "===++***##"
    assert latency_sparkline(LatencyWindow(), 4) == "    "


# --------------------------------------------------------------------------- hygiene


def test_layout_and_sparkline_do_not_import_textual() -> None:
    code = (
        "import sys, stagedeck.engine.graph_layout, stagedeck.engine.sparkline\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
