"""The numbers in the docs' result tables are the numbers in the JSON files they cite.

Convention (docs/index.md): a result table is preceded by an HTML comment

    <!-- source: bench/results/FILE.json
    columns: HEADER = [SCALE*]PATH; HEADER = PATH; ...
    row: SELECTOR [+ SELECTOR ...] [| SELECTOR ...]
    row: ...
    -->

with one ``row:`` line per table row, in order. A SELECTOR is ``[FILE:]PATH`` where PATH is
dotted (``.`` is the file's top level) and may pick a list element by fields, e.g.
``runs[run=fmnist-n100]`` or ``rows[rule=dc,neurons=100]`` (a list field matches its items
joined by ``/``), or by position, ``cpu_s[1]``. ``|`` gives each mapped column its
own selectors (in the order of ``columns:``). Several selectors joined by `` + `` are seeds: the
cell then holds one number per seed (``74.0 · 74.8 · 76.1``) or ``mean ± sd`` (sample sd).
Each number must equal the JSON value rounded to the digits shown.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SOURCE = re.compile(r"^<!--\s*source:(.*?)-->", re.S | re.M)
NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
ABS_PATH = re.compile(r"(?<![\w.])/(?:work|home|tmp|root|Users)/")


def _tables():
    """(page, source comment, the table right below it) for every annotated table."""
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        for m in SOURCE.finditer(text):
            after = text[m.end():].lstrip("\n").splitlines()
            table = []
            for line in after:
                if not line.startswith("|"):
                    break
                table.append(line)
            yield pytest.param(page.name, m.group(1), "\n".join(table),
                               id=f"{page.name}:{text[:m.start()].count(chr(10)) + 1}")


def _load(name: str, cache: dict) -> object:
    if name not in cache:
        path = ROOT / name
        assert path.is_file(), f"cited JSON {name} does not exist"
        cache[name] = json.loads(path.read_text())
    return cache[name]


def _match(value: object, want: str) -> bool:
    if isinstance(value, list):  # e.g. a launch configuration [128, 8, 1, true] = 128/8/1/True
        return "/".join(str(v) for v in value) == want
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value) == want
    try:
        return float(want) == float(value)
    except ValueError:
        return False


def _resolve(obj: object, path: str) -> object:
    for part in [p for p in re.split(r"\.(?![^\[]*\])", path) if p]:
        m = re.fullmatch(r"([^\[]*)(?:\[(.*)\])?", part)
        key, sel = m.group(1), m.group(2)
        if key:
            assert isinstance(obj, dict) and key in obj, f"no key {key!r} (path {path})"
            obj = obj[key]
        if sel is not None and sel.isdigit():  # a list element by position: cpu_s[1]
            obj = obj[int(sel)]
        elif sel is not None:
            conds = [c.strip().split("=", 1) for c in re.split(r",(?=\s*\w+=)", sel)]
            hits = [r for r in obj if all(f in r and _match(r[f], v) for f, v in conds)]
            assert len(hits) == 1, f"{len(hits)} entries match [{sel}] (path {path})"
            obj = hits[0]
    return obj


def _value(default_file: str, selector: str, expr: str, cache: dict) -> float:
    file, _, path = selector.strip().rpartition(":")
    root = _resolve(_load(file or default_file, cache), "" if path == "." else path)
    scale, _, key = expr.strip().rpartition("*")
    value = _resolve(root, key)
    assert isinstance(value, (int, float)), f"{selector} {key} is not a number: {value!r}"
    return float(scale or 1) * float(value)


def _numbers(cell: str) -> list[tuple[float, float]]:
    """Numbers of a cell with the rounding step of their last digit (0.1 for 61.2, 1e-6 for
    5.89e-04), ignoring markup (bold, %, thousands commas)."""
    out = []
    for tok in NUMBER.findall(cell.replace("**", "")):
        tok = tok.replace(",", "").replace("−", "-")
        mant, _, exp = tok.partition("e")
        decimals = len(mant.split(".")[1]) if "." in mant else 0
        out.append((float(tok), 10.0 ** (int(exp or 0) - decimals)))
    return out


def _close(shown: float, step: float, value: float) -> bool:
    return abs(shown - value) <= 0.5 * step * (1 + 1e-9) + 1e-12


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.mark.parametrize("page,spec,table", list(_tables()))
def test_table_numbers_match_their_json(page, spec, table):
    lines = [x.strip() for x in spec.strip().splitlines() if x.strip()]
    default_file = lines[0].strip()
    columns = [c.split("=", 1) for x in lines if x.startswith("columns:")
               for c in x[len("columns:"):].split(";")]
    rows = [x[len("row:"):].strip() for x in lines if x.startswith("row:")]
    rows_md = [_cells(x) for x in table.strip().splitlines()]
    header, body = rows_md[0], rows_md[2:]
    assert len(body) == len(rows), f"{len(body)} table rows but {len(rows)} row: lines"
    cache: dict = {}
    for row_spec, cells in zip(rows, body, strict=True):
        groups = [g.strip() for g in row_spec.split("|")]
        checked = 0
        for k, (name, expr) in enumerate(columns):
            col = header.index(name.strip())
            sels = (groups[k] if len(groups) > 1 else groups[0]).split(" + ")
            nums = _numbers(cells[col])
            where = f"{page} row {cells[0]!r}, column {name.strip()!r}"
            if not nums:  # "flat", "–": nothing to check in this cell
                assert len(sels) == 1, f"{where}: no number for {len(sels)} seeds"
                continue
            vals = [_value(default_file, s, expr, cache) for s in sels]
            if "±" in cells[col]:
                assert len(nums) == 2 and len(vals) >= 2, f"{where}: mean ± sd needs seeds"
                (m, dm), (s, ds) = nums
                assert _close(m, dm, statistics.mean(vals)), f"{where}: mean {vals}"
                assert _close(s, ds, statistics.stdev(vals)), f"{where}: sd {vals}"
            else:
                assert len(nums) == len(vals), f"{where}: {len(nums)} numbers, {len(vals)} runs"
                for (x, d), v in zip(nums, vals, strict=True):
                    assert _close(x, d, v), f"{where}: shows {x}, JSON has {v}"
            checked += 1
        assert checked, f"{page} row {cells[0]!r}: nothing checked"


def test_some_tables_are_checked():
    assert len(list(_tables())) >= 5


# Tables that hold no measured result, so they need no source comment: (page, first header
# cell) -> why. Every other table in docs/*.md must be preceded by a source comment.
NOT_RESULTS = {
    ("benchmarks.md", "library"): "how each library is called (code, versions)",
    ("encoding.md", "`--encoder`"): "the encoders a network takes and their input shapes",
    ("nir.md", "hebbtorch"): "which hebbtorch object maps to which NIR node",
    ("plasticity.md", "rule"): "rules, their papers and parameter sets",
    ("plasticity-data.md", "set"): "published parameter values and where they were checked",
    ("unsupervised.md", "quantity"): "the network's parameters with their sources",
    ("unsupervised.md", "kernel against"): "what each exactness test asserts (tolerances)",
    ("unsupervised.md", "`--rule`"): "the rules the CLI offers and their scaling",
    ("calcium.md", "quantity"): "the rule's parameters with their sources",
    ("conv-stdp.md", "stage"): "the pipeline's stages and their code",
    ("conv-stdp.md", "parameter"): "the network's parameters with their sources",
    ("online.md", "case"): "what each exactness test asserts",
}
# Result tables of pages whose numbers have JSON in bench/results/ but no source comment yet
# (their owners annotate them); a table listed here that gains a comment must leave the list.
UNANNOTATED_RESULTS = {
    ("calcium.md", "post rate (Hz)"),
}


def _all_tables():
    """(page, first header cell, annotated?) for every Markdown table of docs/*.md."""
    for page in sorted(DOCS.glob("*.md")):
        lines = page.read_text().splitlines()
        i = 0
        while i < len(lines):
            if lines[i].startswith("|") and i + 1 < len(lines) and re.match(
                    r"^\|\s*:?-{3,}", lines[i + 1]):
                j = i - 1
                while j >= 0 and not lines[j].strip():
                    j -= 1
                k = j
                while k > 0 and "<!--" not in lines[k]:
                    k -= 1
                annotated = (j >= 0 and lines[j].strip().endswith("-->")
                             and lines[k].lstrip().startswith("<!-- source:"))
                yield page.name, i + 1, _cells(lines[i])[0], annotated
                while i < len(lines) and lines[i].startswith("|"):
                    i += 1
            else:
                i += 1


def test_every_result_table_names_its_source():
    """A new result table without a source comment fails here (issue 26: every number has its
    artefact); tables without results are listed in NOT_RESULTS with the reason."""
    tables = list(_all_tables())
    excused = set(NOT_RESULTS) | UNANNOTATED_RESULTS
    bare = [f"{page}:{line} ({head})" for page, line, head, annotated in tables
            if not annotated and (page, head) not in excused]
    assert not bare, f"result tables without a <!-- source: ... --> comment: {bare}"
    unannotated = {(page, head) for page, _, head, annotated in tables if not annotated}
    stale = sorted(excused - unannotated)
    assert not stale, f"listed as unannotated but annotated or gone (remove them): {stale}"


def test_docs_have_no_machine_paths():
    """Pages and the committed results (their recorded commands, file names) name no folder of
    the machine they were made on; a results file names its output relative to the repo."""
    results = ROOT / "bench" / "results"
    pages = [*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "CHANGELOG.md",
             *results.glob("*.json"), *results.glob("*.md")]
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in pages
           for i, line in enumerate(p.read_text().splitlines(), 1) if ABS_PATH.search(line)]
    assert not bad, f"absolute machine paths in {bad}"
