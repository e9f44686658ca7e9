"""``index.html``: one page with every figure, the headline table, generated text,
timings and the environment of a ``dagnet reproduce`` folder.

Everything shown is read from the folder: its ``metrics.json`` (the record of the
runs) and each experiment's own ``metrics.json`` and figures.  Text goes through
``html.escape``; images are referenced relative to the page.
"""

from __future__ import annotations

import html
import json
import os
import platform
import shlex
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import numpy as np

from dagnet.files import atomic_write_text
from dagnet.reproduce.experiments import (
    BY_NAME,
    PARTS,
    Experiment,
    Table,
    display_command,
)
from dagnet.training import environment

PAGE = "index.html"
LOG = "log.txt"
SAMPLE = "sample.txt"
FIGURE_SUFFIXES = (".png", ".gif")

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem;
       padding: 1rem 2rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.met { color: #176317; } td.missed { color: #a31515; font-weight: bold; }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
figure { display: inline-block; margin: .4rem .8rem .8rem 0; vertical-align: top; }
figure img { max-width: 34rem; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #555; }
.banner { background: #fff4cc; border: 1px solid #e0c060; padding: .5rem .8rem; }
.status-ok { color: #176317; } .status-failed, .status-interrupted { color: #a31515; }
.status-skipped { color: #8a6d00; }
"""


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def experiment_metrics(root: Path, name: str) -> dict | None:
    return read_json(root / name / "metrics.json")


def figures(root: Path, experiment: Experiment) -> list[str]:
    """The figure files of an experiment's folder: those the docs show first, then the rest."""
    folder = root / experiment.name
    if not folder.is_dir():
        return []
    found = sorted(p.name for p in folder.iterdir()
                   if p.suffix.lower() in FIGURE_SUFFIXES and p.is_file())
    first = [name for name in experiment.doc_figures if name in found]
    return first + [name for name in found if name not in first]


def headlines(root: Path, record: dict) -> list[dict]:
    """The experiment's headline rows, read from its metrics.json (empty when it did not run)."""
    experiment = BY_NAME.get(record["name"])
    metrics = experiment_metrics(root, record["name"]) if record["status"] == "ok" else None
    if experiment is None or metrics is None:
        return []
    return [h.evaluate(metrics) for h in experiment.headlines]


def details(root: Path, record: dict) -> list[Table]:
    experiment = BY_NAME.get(record["name"])
    metrics = experiment_metrics(root, record["name"]) if record["status"] == "ok" else None
    if experiment is None or experiment.details is None or metrics is None:
        return []
    try:
        return experiment.details(metrics)
    except (KeyError, TypeError, ValueError, IndexError):
        return []


def sample_text(root: Path, record: dict) -> str | None:
    path = root / record["name"] / SAMPLE
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def budget_note(run: dict) -> str:
    """One sentence on the budgets of the runs recorded, '' for a full run."""
    budgets = {r.get("budget") for r in run["experiments"].values()
               if r["status"] != "skipped"} or {run.get("budget")}
    if budgets == {"full"}:
        return ""
    if budgets == {"quick"}:
        return ("This is the quick version (dagnet reproduce --quick): the experiments that "
                "take minutes ran with smaller budgets, so some numbers fall short of the "
                "full run's. Run dagnet reproduce without --quick for the real figures.")
    if budgets == {"tiny"}:
        return ("This is a smoke test (--budget tiny): every experiment ran for seconds, so "
                "its figures and numbers mean nothing.")
    return ("The experiments here ran with different budgets (" + ", ".join(
        sorted(b for b in budgets if b)) + "): each experiment's budget is in the timings "
        "table.")


# -- HTML ----------------------------------------------------------------------------------

def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None
           ) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            css = classes[k][j] if classes and classes[k][j] else ""
            cells.append(f'<td class="{css}">{_e(cell)}</td>' if css else f"<td>{_e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody>\n</table>")


def _src(*parts: str) -> str:
    return "/".join(quote(part) for part in parts)


def _headline_section(root: Path, run: dict) -> str:
    rows, classes = [], []
    for name, record in _ordered(run):
        status = record["status"]
        command = display_command(record["commands"][0], root) if record.get("commands") else ""
        experiment = BY_NAME.get(name)
        if status != "ok":
            for h in (experiment.headlines if experiment else ()):
                why = {"skipped": "skipped", "failed": "failed", "interrupted": "interrupted"}
                rows.append([h.label(None), h.tutorial or "—", why.get(status, status),
                             h.target or "—", command])
                classes.append(["", "", "missed" if status != "skipped" else "", "", ""])
            continue
        for h in headlines(root, record):
            mark = {True: " (met)", False: " (not met)", None: ""}[h["met"]]
            rows.append([h["quantity"], h["tutorial"] or "—", h["dagnet"],
                         (h["target"] + mark) if h["target"] else "—", command])
            classes.append(["", "", "", {True: "met", False: "missed", None: ""}[h["met"]], ""])
    return ('<section id="headlines">\n<h2>Headline numbers</h2>\n'
            "<p>The tutorial's figure where the series reports one, dagnet's figure from this "
            "run, dagnet's target where an issue sets one, and the command that produced "
            "it.</p>\n"
            + _table(["quantity", "tutorial's figure", "dagnet's figure", "target",
                      "command"], rows, classes)
            + "\n</section>")


def _ordered(run: dict) -> list[tuple[str, dict]]:
    order = {name: k for k, name in enumerate(BY_NAME)}
    return sorted(run["experiments"].items(), key=lambda item: order.get(item[0], len(order)))


def _experiment_article(root: Path, name: str, record: dict) -> str:
    experiment = BY_NAME.get(name)
    title = experiment.title if experiment else record.get("title", name)
    status = record["status"]
    parts = [f'<article id="{_e(name)}">', f"<h3>{_e(title)}</h3>"]
    line = f'<span class="status-{_e(status)}">{_e(status)}</span>'
    if record.get("seconds") is not None:
        line += f" in {record['seconds']:.1f} s"
    if record.get("budget"):
        line += f", {_e(record['budget'])} budget"
    if (root / name / LOG).is_file():
        line += f' — <a href="{_src(name, LOG)}">output of the commands</a>'
    parts.append(f"<p>{line}</p>")
    if status == "skipped":
        parts.append(f"<p>Skipped: {_e(record.get('reason', ''))}</p>")
    if status in ("failed", "interrupted"):
        parts.append(f"<p>Error:</p>\n<pre>{_e(record.get('error', ''))}</pre>")
    if record.get("commands"):
        parts.append("<pre>" + "\n".join(_e("dagnet " + shlex.join(argv))
                                          for argv in record["commands"]) + "</pre>")
    for table in details(root, record):
        parts.append(f"<p>{_e(table.title)}</p>\n" + _table(table.header, table.rows))
    text = sample_text(root, record) if status == "ok" else None
    if text is not None:
        parts.append(f'<p>Generated text (<a href="{_src(name, SAMPLE)}">{SAMPLE}</a>):</p>\n'
                     f"<pre>{_e(text)}</pre>")
    if experiment is not None:
        for figure in figures(root, experiment):
            parts.append(f'<figure><img src="{_src(name, figure)}" alt="{_e(figure)}" '
                         f'loading="lazy"><figcaption>{_e(name)}/{_e(figure)}</figcaption>'
                         "</figure>")
    parts.append("</article>")
    return "\n".join(parts)


def _timings_section(run: dict) -> str:
    rows = []
    total = 0.0
    for name, record in _ordered(run):
        seconds = record.get("seconds")
        total += seconds or 0.0
        rows.append([name, record["status"], record.get("budget", "—"),
                     "—" if seconds is None else f"{seconds:.1f}",
                     record.get("started", "—")])
    rows.append(["all", "", "", f"{total:.1f}", ""])
    runs = [[r.get("command", ""), r.get("started", ""), f"{r.get('seconds', 0):.1f}"]
            for r in run.get("invocations", [])]
    return ('<section id="timings">\n<h2>Timings</h2>\n<p>Wall-clock seconds of each '
            "experiment, its commands' start-up, figures and evaluations included.</p>\n"
            + _table(["experiment", "status", "budget", "seconds", "started"], rows)
            + "\n<p>Invocations of dagnet reproduce that wrote this folder:</p>\n"
            + _table(["command", "started", "seconds"], runs) + "\n</section>")


def machine_of(run: dict) -> dict:
    """The machine a reproduce run describes (``machine``; ``environment`` in records
    written before the run-record schema)."""
    return run.get("machine") or run.get("environment") or {}


def environment_rows(root: Path, run: dict) -> list[list[str]]:
    env = machine_of(run)
    seeds = []
    for name, record in _ordered(run):
        if record["status"] != "ok":
            continue
        seed = (experiment_metrics(root, name) or {}).get("seed")
        if seed is not None:
            seeds.append(f"{name} {seed}")
    rows = [[key, str(value)] for key, value in env.items()]
    rows.append(["seed", (f"--seed {run['seed']} for every command" if run.get("seed")
                          is not None else "each command's default") + ": " + ", ".join(seeds)])
    return rows


def _environment_section(root: Path, run: dict) -> str:
    return ('<section id="environment">\n<h2>Environment</h2>\n'
            + _table(["", ""], environment_rows(root, run)) + "\n</section>")


def render(root: Path, run: dict) -> str:
    """The page for the run recorded in ``run`` (the folder's metrics.json), as text."""
    note = budget_note(run)
    counts = {}
    for record in run["experiments"].values():
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    nav = " · ".join(f'<a href="#part{k}">Part {k}</a>' for k in PARTS) + \
        ' · <a href="#timings">Timings</a> · <a href="#environment">Environment</a>'
    body = ["<h1>dagnet reproduces the tutorial series</h1>",
            f"<p>{_e(len(run['experiments']))} experiments: {_e(summary)}. Written by "
            f"<code>{_e(run.get('command_line', 'dagnet reproduce'))}</code>.</p>"]
    if note:
        body.append(f'<p class="banner">{_e(note)}</p>')
    body.append(f"<nav>{nav}</nav>")
    body.append(_headline_section(root, run))
    for part, (title, _) in PARTS.items():
        articles = [_experiment_article(root, name, record) for name, record in _ordered(run)
                    if (BY_NAME[name].part if name in BY_NAME else 0) == part]
        body.append(f'<section id="part{part}">\n<h2>Part {part}: {_e(title)}</h2>\n'
                    + ("\n".join(articles) if articles else "<p>Not run in this folder.</p>")
                    + "\n</section>")
    body.append(_timings_section(run))
    body.append(_environment_section(root, run))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>dagnet reproduce</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body)
            + "\n</body>\n</html>\n")


def write_page(root: Path, run: dict) -> Path:
    return atomic_write_text(root / PAGE, render(root, run))


def machine() -> dict:
    """Versions, CPU and BLAS of this machine, for the page's environment table."""
    env = environment()
    for package in ("matplotlib", "tqdm", "safetensors", "pillow"):
        try:
            env[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            env[package] = "not installed"
    # Thread counts change timings (an oversubscribed BLAS can be many times slower).
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = os.environ.get(variable, "not set")
    env["platform"] = platform.platform()
    env["cpu"] = _cpu_model() or env.get("processor", "")
    env["cpu_count"] = os.cpu_count()
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        env["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - NumPy's build report is informative only
        env["blas"] = "unknown"
    return env


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
