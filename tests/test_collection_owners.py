"""One writer per collection: the ownership table in docs/service-pattern.md matches the code.

The source of every service and of inbox_core is scanned (AST, no import): each call of a
collection's write method (`insert_*`, `update_*`, `delete_*`, `replace_one`, `bulk_write`,
`find_one_and_*`, index creation) and read method (`find*`, `count_documents`, `aggregate`,
`distinct`) is attributed to the package it is written in and to the collection named in
`db[NAME]` (a constant or a string), directly or through a name the handle was bound to.
A write by any package but the collection's owner fails the test, and so does a read that
the table does not list, or a collection the code touches that the table does not know.
A handle given to a function as an argument counts as a write (the helper may write it).
The scanner's own tests feed it small sources with violations, so the test cannot pass by
seeing nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "service-pattern.md"

WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "bulk_write",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "create_index",
        "create_indexes",
        "drop",
        "drop_index",
        "rename",
    }
)
READS = frozenset(
    {
        "find",
        "find_one",
        "find_in",
        "count_documents",
        "estimated_document_count",
        "aggregate",
        "distinct",
        "watch",
    }
)


@dataclass(frozen=True)
class Access:
    package: str  # the service the code runs in (inbox_core modules name themselves)
    collection: str
    write: bool
    where: str  # path:line

    def __str__(self) -> str:
        verb = "writes" if self.write else "reads"
        return f"{self.where}: {self.package} {verb} {self.collection!r}"


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "..."`, `NAME: Final = "..."` and f-strings of those."""
    found: dict[str, str] = {}

    def text(value: ast.expr | None) -> str | None:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
        if isinstance(value, ast.JoinedStr):  # FILES = f"{BUCKET}.files"
            parts = []
            for part in value.values:
                if isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
                    parts.append(found.get(part.value.id))
                else:
                    parts.append(text(part))  # type: ignore[arg-type]
            return None if None in parts else "".join(parts)  # type: ignore[arg-type]
        return None

    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and (string := text(value)) is not None:
            found[target.id] = string
    return found


def _imports(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """`from mod import NAME [as alias]` → alias: (mod, NAME)."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


@dataclass
class Source:
    module: str  # dotted name
    package: str  # the owner name its code runs as
    path: str
    tree: ast.Module


class Scanner:
    """Finds the store accesses in a set of modules (see the module docstring)."""

    def __init__(self, sources: Iterable[Source]) -> None:
        self.sources = list(sources)
        self.constants = {s.module: _string_constants(s.tree) for s in self.sources}

    def _resolver(self, source: Source) -> dict[str, str]:
        names = dict(self.constants[source.module])
        for alias, (module, name) in _imports(source.tree).items():
            value = self.constants.get(module, {}).get(name)
            if value is not None:
                names[alias] = value
        return names

    def _modules(self, source: Source) -> dict[str, dict[str, str]]:
        """Module aliases → their constants: `from inbox_core import store`, `import x as y`."""
        found: dict[str, dict[str, str]] = {}
        for alias, (module, name) in _imports(source.tree).items():
            if f"{module}.{name}" in self.constants:
                found[alias] = self.constants[f"{module}.{name}"]
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Import):
                for item in node.names:
                    if item.name in self.constants:
                        found[item.asname or item.name] = self.constants[item.name]
        return found

    def accesses(self) -> Iterator[Access]:
        for source in self.sources:
            yield from self._accesses(source)

    def _accesses(self, source: Source) -> Iterator[Access]:
        names = self._resolver(source)
        modules = self._modules(source)

        def collection_of(node: ast.expr) -> str | None:
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            if isinstance(node, ast.Name):
                return names.get(node.id)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                return modules.get(node.value.id, {}).get(node.attr)  # store.THREADS
            return None

        def handle_of(node: ast.expr) -> str | None:
            """The collection `node` evaluates to: `x[NAME]`, `x.get_collection(NAME)`."""
            if isinstance(node, ast.Subscript):
                return collection_of(node.slice)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_collection"
                and node.args
            ):
                return collection_of(node.args[0])
            return None

        def bound_name(node: ast.expr) -> str | None:
            if isinstance(node, ast.Name):
                return node.id
            if isinstance(node, ast.Attribute):  # self.collection = db[NAME]
                return f".{node.attr}"
            return None

        # Names (and attributes) a collection handle was bound to, anywhere in the module.
        bound: dict[str, str] = {}
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                collection = handle_of(node.value) if _database(node.value) else None
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    name = bound_name(target)
                    if collection is not None and name is not None:
                        bound[name] = collection

        for node in ast.walk(source.tree):
            # Index declarations: `INDEXES = {NAME: [IndexModel(...)]}` at module level.
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id.endswith("INDEXES") for t in targets):
                    for key in node.value.keys:
                        collection = collection_of(key) if key is not None else None
                        if collection is not None:
                            yield Access(
                                source.package, collection, True, f"{source.path}:{node.lineno}"
                            )
            if isinstance(node, ast.Call):
                # A handle given to a helper may be written there: counted as a write.
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    name = bound_name(arg)
                    passed = (handle_of(arg) if _database(arg) else None) or (
                        bound.get(name) if name is not None else None
                    )
                    if passed is not None:
                        yield Access(source.package, passed, True, f"{source.path}:{node.lineno}")
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method not in WRITES and method not in READS:
                continue
            receiver = node.func.value
            collection = handle_of(receiver)
            if collection is None:
                name = bound_name(receiver)
                collection = bound.get(name) if name is not None else None
            if collection is not None:
                yield Access(
                    source.package, collection, method in WRITES, f"{source.path}:{node.lineno}"
                )


def _database(node: ast.expr) -> bool:
    """`db[...]`, `self.db[...]`, `store.db[...]`, `self.hot[...]`: a collection, not a dict's
    item (for handles bound to a name or given to a function, where `doc["_id"]` is common)."""
    if not isinstance(node, ast.Subscript):
        return True  # get_collection(...)
    value = node.value.func if isinstance(node.value, ast.Call) else node.value  # self.db()
    name = value.id if isinstance(value, ast.Name) else getattr(value, "attr", "")
    return name.endswith("db") or name == "hot"


# --- the repository -------------------------------------------------------------------------

# Library modules run inside the service that calls them: the table names them by module
# (`inbox_core.faq`), except these, which only one kind of service runs.
CORE_OWNERS = {
    "inbox_core.connector": "connectors",  # each connector's own cursors and raw payloads
    "inbox_core.store": "notifier",  # Store.next_number: only the notifier numbers
}
# An owner that is a kind of service: each writes its own documents (keyed by channel and
# account), never another's.
GROUPS = {"connectors": {"connectors", "ingest-mail", "ingest-social", "ingest-marketplace"}}
SERVICE_NAMES = {
    "inbox_router": "router",
    "inbox_notifier": "notifier",
    "inbox_ingest_mail": "ingest-mail",
    "inbox_ingest_social": "ingest-social",
    "inbox_ingest_marketplace": "ingest-marketplace",
}


def _repository_sources() -> Iterator[Source]:
    roots = [ROOT / "libs" / "inbox-core" / "src", *sorted((ROOT / "services").glob("*/src"))]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            module = ".".join(rel.with_suffix("").parts)
            if module.startswith("inbox_core.testing"):
                continue  # the tests' own harness, never in a service
            top = rel.parts[0]
            if top == "inbox_core":
                owner = CORE_OWNERS.get(module, module)
            else:
                owner = SERVICE_NAMES.get(top, top)
            tree = ast.parse(path.read_text(), filename=str(path))
            yield Source(module, owner, str(path.relative_to(ROOT)), tree)


@dataclass(frozen=True)
class Row:
    owner: str
    readers: frozenset[str]


def _table(text: str) -> dict[str, Row]:
    """The `| collection | owner | read by | ... |` table under "## Collections"."""
    section = text.split("## Collections", 1)[1]
    rows: dict[str, Row] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            if rows and not line.strip().startswith("|"):
                break  # the end of the table
            continue
        readers = frozenset(r.strip(" `") for r in re.split(r",", cells[2]) if r.strip(" -—"))
        rows[cells[0].strip("`")] = Row(cells[1].strip("`"), readers)
    return rows


def violations(accesses: Iterable[Access], table: dict[str, Row]) -> list[str]:
    problems: set[str] = set()
    for access in accesses:
        row = table.get(access.collection)
        if row is None:
            problems.add(f"{access}: the collection is not in the ownership table")
        elif access.write and access.package not in GROUPS.get(row.owner, {row.owner}):
            problems.add(f"{access}: only {row.owner} writes it (send the owner a command)")
        elif not access.write and access.package not in {
            *GROUPS.get(row.owner, {row.owner}),
            *row.readers,
        }:
            problems.add(f"{access}: a read the ownership table does not list")
    return sorted(problems)


def test_only_the_owner_of_a_collection_writes_it() -> None:
    table = _table(TABLE.read_text())
    accesses = list(Scanner(_repository_sources()).accesses())
    assert len(accesses) > 100  # the scanner sees the code it checks
    assert violations(accesses, table) == []


def test_every_collection_of_the_table_is_used() -> None:
    table = _table(TABLE.read_text())
    used = {a.collection for a in Scanner(_repository_sources()).accesses()}
    assert sorted(set(table) - used) == []


# --- the scanner itself ---------------------------------------------------------------------

_TABLE = {
    "threads": Row("router", frozenset({"notifier"})),
    "customers": Row("router", frozenset()),
}


def _scan(code: str, package: str = "notifier") -> list[str]:
    consts = 'from typing import Final\nTHREADS: Final = "threads"\nCUSTOMERS = "customers"\n'
    sources = [
        Source("inbox_core.store", "inbox_core", "store.py", ast.parse(consts)),
        Source("svc.mod", package, "mod.py", ast.parse(code)),
    ]
    return violations(Scanner(sources).accesses(), _TABLE)


@pytest.mark.parametrize(
    "code",
    [
        "from inbox_core.store import THREADS\nasync def f(db):\n"
        "    await db[THREADS].update_one({}, {})",
        "from inbox_core import store\nasync def f(db):\n"
        "    await db[store.THREADS].delete_many({})",
        "async def f(db):\n    await db['threads'].bulk_write([])",
        "from inbox_core.store import THREADS\nasync def f(db):\n"
        "    threads = db[THREADS]\n    await threads.find_one_and_update({}, {})",
        "from inbox_core.store import THREADS\nclass A:\n    def __init__(self, db):\n"
        "        self.keys = db.get_collection(THREADS)\n"
        "    async def f(self):\n        await self.keys.insert_one({})",
        "from inbox_core.store import THREADS as T\nasync def f(self):\n"
        "    await self.hot[T].replace_one({}, {})",
        "from inbox_core.store import THREADS\nINDEXES = {THREADS: []}",
        "from inbox_core.store import THREADS\nasync def f(db):\n    await upsert(db[THREADS], {})",
    ],
    ids=[
        "constant",
        "module-attribute",
        "literal",
        "bound-name",
        "bound-attribute",
        "alias",
        "indexes",
        "passed-to-a-helper",
    ],
)
def test_a_write_to_another_services_collection_is_reported(code: str) -> None:
    found = _scan(code)
    assert len(found) == 1 and "notifier writes 'threads'" in found[0], found
    assert _scan(code, package="router") == []


def test_reads_are_checked_against_the_readers_column() -> None:
    read_threads = (
        "from inbox_core.store import THREADS\nasync def f(db):\n    await db[THREADS].find_one({})"
    )
    read_customers = read_threads.replace("THREADS", "CUSTOMERS")
    assert _scan(read_threads) == []
    assert "a read the ownership table does not list" in _scan(read_customers)[0]
    unknown = "async def f(db):\n    await db['elsewhere'].find_one({})"
    assert "not in the ownership table" in _scan(unknown)[0]
