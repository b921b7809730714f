"""The service dependency DAG.

Everything that acts on an environment in order (bring-up, redeploy with
dependents, reseed) and everything that explains a failure (root cause
versus impacted) is a question about this graph, so it lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


class DependencyGraph:
    """``deps[a]`` lists what ``a`` depends on; edges point from a service to its dependencies."""

    def __init__(self, deps: Mapping[str, Sequence[str]]) -> None:
        self._deps: dict[str, tuple[str, ...]] = {n: tuple(d) for n, d in deps.items()}
        self._users: dict[str, list[str]] = {n: [] for n in self._deps}
        for name, ds in self._deps.items():
            for d in ds:
                self._users.setdefault(d, []).append(name)

    @property
    def nodes(self) -> list[str]:
        return list(self._deps)

    def dependencies(self, name: str) -> tuple[str, ...]:
        """Direct dependencies of ``name``."""
        return self._deps.get(name, ())

    def users(self, name: str) -> list[str]:
        """Services that depend directly on ``name``."""
        return list(self._users.get(name, ()))

    def find_cycle(self) -> list[str] | None:
        """One dependency cycle as a closed path (``a, b, c, a``), or None.

        Iterative, so a chain thousands of services long is no RecursionError."""
        WHITE, GREY, BLACK = 0, 1, 2
        colour = dict.fromkeys(self._deps, WHITE)
        for start in self._deps:
            if colour[start] != WHITE:
                continue
            stack: list[str] = [start]
            cursors: list[int] = [0]
            colour[start] = GREY
            while stack:
                node = stack[-1]
                deps = self._deps.get(node, ())
                i = cursors[-1]
                if i < len(deps):
                    cursors[-1] = i + 1
                    dep = deps[i]
                    if dep not in colour:
                        continue
                    if colour[dep] == GREY:
                        return [*stack[stack.index(dep) :], dep]
                    if colour[dep] == WHITE:
                        colour[dep] = GREY
                        stack.append(dep)
                        cursors.append(0)
                    continue
                colour[node] = BLACK
                stack.pop()
                cursors.pop()
        return None

    def layers(self) -> list[list[str]]:
        """Services grouped so each layer depends only on earlier layers.

        Within a layer, order follows the recipe so that views are stable.
        Raises ValueError on a cycle (the recipe loader rejects those first).
        Iterative (Kahn's algorithm), so long chains cost no recursion.
        """
        known = self._deps
        pending = {n: sum(1 for d in set(ds) if d in known) for n, ds in known.items()}
        users: dict[str, list[str]] = {n: [] for n in known}
        for n, ds in known.items():
            for d in set(ds):
                if d in known:
                    users[d].append(n)
        level: dict[str, int] = {}
        ready = [n for n in known if pending[n] == 0]
        for n in ready:
            level[n] = 0
        while ready:
            node = ready.pop()
            for user in users[node]:
                level[user] = max(level.get(user, 0), level[node] + 1)
                pending[user] -= 1
                if pending[user] == 0:
                    ready.append(user)
        if len(level) < len(known) or any(pending.values()):
            stuck = next(n for n in known if pending[n])
            raise ValueError(f"dependency cycle through {stuck}")
        out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for node in known:
            out[level[node]].append(node)
        return out

    def order(self) -> list[str]:
        """A topological order: dependencies before the services that use them."""
        return [n for layer in self.layers() for n in layer]

    def dependents(self, name: str) -> list[str]:
        """Every service that depends on ``name``, directly or not, in dependency order."""
        seen: set[str] = set()
        todo = list(self._users.get(name, ()))
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(self._users.get(n, ()))
        return [n for n in self.order() if n in seen]

    def ancestors(self, name: str) -> list[str]:
        """Every service ``name`` depends on, directly or not, in dependency order."""
        seen: set[str] = set()
        todo = list(self._deps.get(name, ()))
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(self._deps.get(n, ()))
        return [n for n in self.order() if n in seen]

    def impacted(self, down: Iterable[str]) -> set[str]:
        """Services that are not themselves down but have a down dependency somewhere below."""
        down = set(down)
        out: set[str] = set()
        for d in down:
            out.update(self.dependents(d))
        return out - down

    def root_failures(self, down: Iterable[str]) -> set[str]:
        """Down services none of whose (transitive) dependencies is down: where to look first."""
        down = set(down)
        return {d for d in down if not (set(self.ancestors(d)) & down)}
