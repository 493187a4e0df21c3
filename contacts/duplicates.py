"""Finding rows that describe the same person: same phone or same external id, transitively."""

from __future__ import annotations

from collections.abc import Iterable

from contacts.upserting import ContactInput


class DuplicateGroups:
    """Groups rows that share a phone or an external id, transitively (union-find).

    Feed every valid row with `add`; `groups()` then maps each row that has duplicates to its
    group and tells the group's last row, where the merged input can be emitted.
    """

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self._owner: dict[tuple[str, str], int] = {}

    def add(self, row: int, keys: Iterable[tuple[str, str]]) -> None:
        self._parent[row] = row
        for key in keys:
            owner = self._owner.setdefault(key, row)
            if owner != row:
                self._union(owner, row)

    def _find(self, row: int) -> int:
        root = row
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[row] != root:
            self._parent[row], row = root, self._parent[row]
        return root

    def _union(self, first: int, second: int) -> None:
        first_root, second_root = self._find(first), self._find(second)
        if first_root != second_root:
            self._parent[max(first_root, second_root)] = min(first_root, second_root)

    def groups(self) -> tuple[dict[int, int], dict[int, int]]:
        """(group root of every row in a group of two or more, last row of each such group)."""
        sizes: dict[int, int] = {}
        last: dict[int, int] = {}
        roots = {row: self._find(row) for row in self._parent}
        for row, root in roots.items():
            sizes[root] = sizes.get(root, 0) + 1
            last[root] = max(last.get(root, row), row)
        group_of = {row: root for row, root in roots.items() if sizes[root] > 1}
        return group_of, {root: row for root, row in last.items() if sizes[root] > 1}


def merge_duplicates(inputs: list[ContactInput]) -> list[ContactInput]:
    """Collapse inputs sharing a phone or an external id into one, placed at its first row.

    For batches that fit in memory (API bulk upserts); the CSV import streams instead, using
    `DuplicateGroups` over a first pass of the file.
    """
    groups = DuplicateGroups()
    for index, item in enumerate(inputs):
        groups.add(index, item.identity_keys())
    group_of, _ = groups.groups()
    merged: dict[int, ContactInput] = {}
    order: list[ContactInput | int] = []
    for index, item in enumerate(inputs):
        root = group_of.get(index)
        if root is None:
            order.append(item)
        elif root in merged:
            merged[root] = merged[root].merged_with(item)
        else:
            merged[root] = item
            order.append(root)
    return [merged[entry] if isinstance(entry, int) else entry for entry in order]
