"""Two-dimensional (CPU + memory) first-fit-decreasing bin packing.

Pods of one workload are identical, so they are placed as a group: on each
node, as many as fit go at once. That is exactly what one-by-one first fit
would do for identical items (a node skipped for one copy cannot take the
next), and it keeps 10,000-ULB plans with thousands of replicas in
milliseconds. Items are sorted by their larger share of a node, then by name,
so the result does not depend on input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_INF = 1 << 62


@dataclass(frozen=True, slots=True)
class Item:
    """``count`` identical pods that each need ``cpu_m`` and ``mem_b``."""

    name: str
    cpu_m: int
    mem_b: int
    count: int
    one_per_node: bool = False


@dataclass(slots=True)
class Bin:
    name: str
    cap_cpu: int
    cap_mem: int
    free_cpu: int
    free_mem: int
    placed: dict[str, int] = field(default_factory=dict)

    @property
    def used_cpu(self) -> int:
        return self.cap_cpu - self.free_cpu

    @property
    def used_mem(self) -> int:
        return self.cap_mem - self.free_mem


@dataclass(slots=True)
class Packing:
    bins: list[Bin]
    unplaced: dict[str, int]              # item name → pods that found no node
    too_big: set[str]                     # items that fit no node even when empty

    @property
    def opened(self) -> int:
        return len(self.bins)


def _how_many(item: Item, b: Bin) -> int:
    fit_c = b.free_cpu // item.cpu_m if item.cpu_m else _INF
    fit_m = b.free_mem // item.mem_b if item.mem_b else _INF
    fit = fit_c if fit_c < fit_m else fit_m
    if item.one_per_node:
        return 0 if b.placed.get(item.name) else min(fit, 1)
    return fit


def order(items: Iterable[Item], ref_cpu: int, ref_mem: int) -> list[Item]:
    """Spread-constrained items first, then decreasing by dominant share of a node, ties by name.

    Replicas that must sit on distinct nodes go first while every node still
    has room; placed last they would each open a node of their own.
    """
    rc = max(ref_cpu, 1)
    rm = max(ref_mem, 1)
    return sorted(items, key=lambda it: (not it.one_per_node, -max(it.cpu_m / rc, it.mem_b / rm),
                                         -it.cpu_m, -it.mem_b, it.name))


def pack(
    items: Iterable[Item],
    bins: Sequence[Bin] = (),
    *,
    new_bin: tuple[int, int] | None = None,
    bin_prefix: str = "worker",
) -> Packing:
    """First-fit decreasing of ``items`` into ``bins``; open bins of ``new_bin`` (cpu, mem) if given.

    Without ``new_bin`` the bins are fixed (a fit check against real nodes) and
    whatever does not fit is reported in ``unplaced``.
    """
    out = [Bin(b.name, b.cap_cpu, b.cap_mem, b.free_cpu, b.free_mem, dict(b.placed)) for b in bins]
    ref_cpu, ref_mem = new_bin if new_bin else (
        max((b.cap_cpu for b in out), default=1), max((b.cap_mem for b in out), default=1))
    unplaced: dict[str, int] = {}
    too_big: set[str] = set()
    for item in order(items, ref_cpu, ref_mem):
        left = item.count
        if left <= 0:
            continue
        for b in out:
            n = _how_many(item, b)
            if n <= 0:
                continue
            n = min(n, left)
            b.free_cpu -= n * item.cpu_m
            b.free_mem -= n * item.mem_b
            b.placed[item.name] = b.placed.get(item.name, 0) + n
            left -= n
            if left == 0:
                break
        while left and new_bin is not None:
            b = Bin(f"{bin_prefix}-{len(out) + 1}", new_bin[0], new_bin[1], new_bin[0], new_bin[1])
            n = min(_how_many(item, b), left)
            if n <= 0:
                too_big.add(item.name)
                break
            b.free_cpu -= n * item.cpu_m
            b.free_mem -= n * item.mem_b
            b.placed[item.name] = n
            out.append(b)
            left -= n
        if left:
            unplaced[item.name] = unplaced.get(item.name, 0) + left
            if not any(_how_many(item, Bin("", b.cap_cpu, b.cap_mem, b.cap_cpu, b.cap_mem)) for b in out):
                too_big.add(item.name)
    return Packing(out, unplaced, too_big)
