"""The phases tree of the install view: phases with counts, groups, tasks, with symbols.

Nodes are kept by key and relabelled in place, so the cursor and the
operator's expand/collapse choices survive every refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from digit_tui.engine.journal import TaskRow
from digit_tui.viewmodel.install import PhaseView, build_phases, phase_title, style, symbol, task_state


@dataclass(frozen=True)
class NodeRef:
    kind: str   # "phase" | "task"
    key: str    # phase path or task id


def _label(sym_state: str, name: str, counts: str, width: int) -> Text:
    t = Text()
    t.append(symbol(sym_state), style=style(sym_state))
    t.append(" ")
    room = max(4, width - len(counts) - 3)
    shown = name if len(name) <= room else name[: room - 1] + "…"
    t.append(shown.ljust(room), style="dim" if sym_state in ("pending", "cancelled", "skipped") else "")
    t.append(" " + counts, style="dim" if sym_state == "pending" else "")
    return t


class PhaseTree(Tree[NodeRef]):
    """Tree of phases → groups → tasks."""

    DEFAULT_CSS = """
    PhaseTree { scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__("install", **kw)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        self._by_ref: dict[NodeRef, TreeNode[NodeRef]] = {}
        self._auto_state: dict[NodeRef, str] = {}   # last aggregate state we auto-expanded/collapsed for

    def label_width(self, depth: int) -> int:
        """Room for a label at ``depth``: minus the scrollbar, the guides and the expander (or leaf guide)."""
        width = (self.size.width or 30) - 1
        return max(12, width - depth * self.guide_depth - 2 - 1)

    def update_tasks(self, tasks: Sequence[TaskRow]) -> None:
        phases = build_phases(tasks)
        seen: set[NodeRef] = set()
        for ph in phases:
            self._sync_phase(self.root, ph, 0, seen)
        for ref in [r for r in self._by_ref if r not in seen]:
            node = self._by_ref.pop(ref)
            try:
                node.remove()
            except Exception:
                pass  # its parent was removed first

    def _sync_phase(self, parent: TreeNode[NodeRef], ph: PhaseView, depth: int, seen: set[NodeRef]) -> None:
        ref = NodeRef("phase", ph.path)
        seen.add(ref)
        state = ph.state
        label = _label(state, phase_title(ph.path), f"{ph.done}/{ph.total}", self.label_width(depth))
        node = self._by_ref.get(ref)
        if node is None:
            node = parent.add(label, data=ref)
            self._by_ref[ref] = node
        else:
            node.set_label(label)
        # Open what is happening, fold what is settled; only when the phase's state changes,
        # so an operator's own expand/collapse is left alone in between.
        if self._auto_state.get(ref) != state:
            self._auto_state[ref] = state
            if state in ("running", "failed", "waiting-for-network"):
                node.expand()
            else:
                node.collapse()
        for child in ph.children:
            self._sync_phase(node, child, depth + 1, seen)
        for t in ph.tasks:
            tref = NodeRef("task", t.id)
            seen.add(tref)
            counts = f"{t.progress_done}/{t.progress_total}" if t.progress_total else ""
            tlabel = _label(task_state(t), t.title, counts, self.label_width(depth))
            tnode = self._by_ref.get(tref)
            if tnode is None:
                self._by_ref[tref] = node.add_leaf(tlabel, data=tref)
            else:
                tnode.set_label(tlabel)

    def select_ref(self, ref: NodeRef) -> None:
        node = self._by_ref.get(ref)
        if node is None:
            return
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.move_cursor(node)

    @property
    def selected_ref(self) -> NodeRef | None:
        node = self.cursor_node
        return node.data if node is not None else None
