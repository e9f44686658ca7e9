"""The tutorial pages' generated parts: docs/results/ and the blocks of docs/part*.md.

``dagnet reproduce --docs docs`` calls ``update_docs``: for every experiment that ran
to the end it copies the figures the pages show into ``docs/results/<experiment>/``
(re-saved at 100 dpi to keep the repository small), records its headline numbers,
details, commands and timing in ``docs/results/results.json``, and rewrites each
block of the pages between

    <!-- reproduce: NAME -->  and  <!-- /reproduce: NAME -->

from that file.  Experiments that did not run (or failed) keep their earlier
results.  The prose around the blocks explains; every number sits in a block.
tests/test_docs_pages.py re-renders the blocks from results.json and compares.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

from dagnet.files import atomic_write_bytes, atomic_write_text, write_json
from dagnet.reproduce import report
from dagnet.reproduce.experiments import BY_NAME, EXPERIMENTS, PARTS, display_command

RESULTS = "results"
RESULTS_FILE = "results.json"
DPI = 100
SAMPLE_CHARACTERS = 1200
BLOCK = re.compile(r"<!-- reproduce: (?P<name>[\w-]+) -->\n.*?<!-- /reproduce: (?P=name) -->",
                   re.DOTALL)


def summarize(root: Path, record: dict, environment: dict) -> dict:
    """What the docs keep of one experiment that ran to the end (JSON-ready)."""
    experiment = BY_NAME[record["name"]]
    tables = [{"title": t.title, "header": t.header, "rows": t.rows}
              for t in report.details(root, record)]
    entry = {
        "title": experiment.title, "part": experiment.part, "budget": record.get("budget"),
        "commands": [display_command(argv, root) for argv in record["commands"]],
        "seconds": record.get("seconds"), "date": (record.get("started") or "")[:10],
        "machine": {key: environment.get(key) for key in
                    ("cpu", "cpu_count", "dagnet", "numpy", "python", "blas",
                     "OPENBLAS_NUM_THREADS")},
        "headlines": report.headlines(root, record), "tables": tables,
        "figures": [name for name in experiment.doc_figures
                    if (root / record["name"] / name).is_file()],
    }
    sample = report.sample_text(root, record)
    if sample is not None:
        entry["sample"] = sample[:SAMPLE_CHARACTERS]
    return entry


def shrink_figure(source: Path, target: Path, dpi: int = DPI) -> Path:
    """Copy a PNG, scaled down to ``dpi`` when it was drawn finer (matplotlib records
    the dpi in the file), with a palette of 256 colours: a third of the bytes of the
    full-colour file for these plots, with no visible difference."""
    import io

    from PIL import Image

    with Image.open(source) as image:
        image.load()
        drawn = image.info.get("dpi", (dpi, dpi))[0] or dpi
        image = image.convert("RGB")
        if drawn > dpi * 1.05:
            size = (round(image.width * dpi / drawn), round(image.height * dpi / drawn))
            image = image.resize(size, Image.LANCZOS)
        image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                               dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True, dpi=(dpi, dpi))
    return atomic_write_bytes(target, buffer.getvalue())


def load_results(docs_dir: Path) -> dict:
    path = docs_dir / RESULTS / RESULTS_FILE
    if not path.is_file():
        return {"experiments": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def update_docs(root: Path, run: dict, docs_dir: Path) -> list[Path]:
    """Copy figures and numbers of the run in ``root`` into ``docs_dir``; rewrite the
    pages' blocks.  Returns the pages rewritten."""
    results = load_results(docs_dir)
    environment = report.machine_of(run)
    for name, record in run["experiments"].items():
        if record["status"] != "ok" or name not in BY_NAME:
            continue
        entry = summarize(root, record, environment)
        folder = docs_dir / RESULTS / name
        if folder.is_dir():
            for old in folder.iterdir():
                if old.is_file() and old.name not in entry["figures"]:
                    old.unlink()
        for figure in entry["figures"]:
            shrink_figure(root / name / figure, folder / figure)
        results["experiments"][name] = entry
    results["experiments"] = {e.name: results["experiments"][e.name] for e in EXPERIMENTS
                              if e.name in results["experiments"]}
    results["updated"] = datetime.date.today().isoformat()
    write_json(docs_dir / RESULTS / RESULTS_FILE, results)
    return rewrite_pages(docs_dir, results)


def rewrite_pages(docs_dir: Path, results: dict) -> list[Path]:
    written = []
    for _, page in PARTS.values():
        path = docs_dir / page
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new = BLOCK.sub(lambda match: render_block(match.group("name"), results), text)
        if new != text:
            atomic_write_text(path, new)
        written.append(path)
    return written


# -- Markdown ----------------------------------------------------------------------------

def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    header = [h or " " for h in header]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_block(name: str, results: dict) -> str:
    """The Markdown between the markers of experiment ``name``, from ``results``."""
    entry = results.get("experiments", {}).get(name)
    lines = [f"<!-- reproduce: {name} -->"]
    if entry is None:
        lines.append(f"*Not measured yet: `dagnet reproduce --only {name} --docs docs` "
                     "fills this in.*")
        lines.append(f"<!-- /reproduce: {name} -->")
        return "\n".join(lines)
    if entry["headlines"]:
        rows = [[h["quantity"], h["tutorial"] or "—", h["dagnet"],
                 (h["target"] + {True: " (met)", False: " (not met)", None: ""}[h["met"]])
                 if h["target"] else "—"] for h in entry["headlines"]]
        lines += _markdown_table(["", "tutorial", "dagnet", "target"], rows) + [""]
    fence = "```"
    lines += [fence] + entry["commands"] + [fence, ""]
    for table in entry["tables"]:
        lines += [f"{table['title']}:", ""] + _markdown_table(table["header"], table["rows"])
        lines.append("")
    if "sample" in entry:
        fence = _fence(entry["sample"])
        lines += ["A sample of its text (temperature 0.8):", "", fence + "text",
                  entry["sample"].rstrip("\n"), fence, ""]
    for figure in entry["figures"]:
        lines += [f"![{name}: {figure}]({RESULTS}/{name}/{figure})", ""]
    machine = entry["machine"]
    budget = "" if entry["budget"] == "full" else f" --budget {entry['budget']}"
    lines.append(f"*Generated by `dagnet reproduce{budget} --docs docs` on {entry['date']}: "
                 f"{entry['seconds']:.0f} s of wall time "
                 f"on {machine.get('cpu')} ({machine.get('cpu_count')} cores, "
                 f"OPENBLAS_NUM_THREADS {machine.get('OPENBLAS_NUM_THREADS')}), dagnet "
                 f"{machine.get('dagnet')}, NumPy {machine.get('numpy')}.*")
    lines.append(f"<!-- /reproduce: {name} -->")
    return "\n".join(lines)
