"""The page and the small HTML pieces shared by the run and comparison reports.

Every page is self-contained: inline CSS, plots as PNG ``data:`` URIs, no JavaScript,
and a Content-Security-Policy that forbids fetching anything else. Strings go through
:func:`_e` (HTML escaping) before they are put in a page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from ..training.history import History
from ._plot_style import DPI, SIZE

_GOOD = ("fine", "healthy")
_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--link:#0969da}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:980px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:1.7rem;margin:0 0 2px}
h2{font-size:1.25rem;margin:6px 0 12px}
.sub,.note,figcaption,footer{color:var(--muted)}
nav{display:flex;flex-wrap:wrap;gap:4px 16px;margin:14px 0 4px;font-size:.92rem}
nav a{color:var(--link);text-decoration:none}
section{border-top:1px solid var(--line);margin-top:26px;padding-top:10px}
table{border-collapse:collapse;margin:6px 0 14px;font-size:.92rem}
th,td{border:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.wide{overflow-x:auto}
table.comparison{font-size:.86rem}
table.comparison th,table.comparison td{padding:4px 7px}
tbody tr:nth-child(even){background:#fafbfc}
tr.best td{font-weight:700;background:#eaf5ec}
.tables{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
figure{margin:6px 0 16px}
img{display:block;width:100%;height:auto;border:1px solid var(--line);
border-radius:6px}
figcaption{font-size:.88rem;margin-top:6px;max-width:640px}
.badge{display:inline-block;padding:0 9px;border-radius:10px;font-size:.86rem;
font-weight:600;color:#fff;background:#bf8700}
.badge.ok{background:#1a7f37}
code{font:.86em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
background:var(--soft);padding:1px 5px;border-radius:4px}
li{margin:3px 0}
ul.warnings li::marker{color:#bf8700}
footer{margin-top:36px;font-size:.85rem}
dl.settings{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));
gap:0 24px;margin:8px 0}
dl.settings div{display:flex;justify-content:space-between;gap:12px;padding:3px 0;
border-bottom:1px solid var(--line)}
dt{font-weight:600}
dd{margin:0;text-align:right;overflow-wrap:anywhere}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_Figure = tuple[str, str, Callable[[], bytes], str]
"""A section with a plot: id, title, a function drawing the PNG, caption."""


def _warnings(warnings: Any, notes: list[str]) -> str:
    items = [str(w) for w in warnings or []] + notes
    if not items:
        return '<p class="note">No warnings.</p>'
    return _list(items, css="warnings")


def _settings(settings: Mapping[str, Any]) -> str:
    items = "".join(
        f"<div><dt>{_e(key)}</dt><dd><code>{_e(_value(value))}</code></dd></div>"
        for key, value in settings.items()
    )
    return f'<dl class="settings">{items}</dl>'


def _plot_section(
    key: str, title: str, draw: Callable[[], bytes], caption: str, notes: list[str]
) -> tuple[str, str, str]:
    try:
        png = draw()
    except ValueError as error:  # a curve the data cannot give; the rest still renders
        notes.append(f"{title}: not drawn ({error})")
        return key, title, f'<p class="note">Not drawn: {_e(error)}</p>'
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    width, height = int(SIZE[0] * DPI), int(SIZE[1] * DPI)
    return (
        key,
        title,
        (
            f'<figure><img src="{source}" width="{width}" height="{height}" '
            f'alt="{_e(title)} plot"><figcaption>{_e(caption)}</figcaption></figure>'
        ),
    )


def _page(
    title: str, subtitle: str, sections: list[tuple[str, str, str]], folder: Path | None
) -> str:
    from .. import __version__

    nav = "".join(f'<a href="#{key}">{_e(name)}</a>' for key, name, _ in sections)
    body = "\n".join(
        f'<section id="{key}">\n<h2>{_e(name)}</h2>\n{html}\n</section>'
        for key, name, html in sections
    )
    where = f" from <code>{_e(folder)}</code>" if folder is not None else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f'<link rel="icon" href="data:,">\n<title>{_e(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(subtitle)}</p></header>\n'
        f"<nav>{nav}</nav>\n{body}\n"
        f"<footer>Made by nntune {_e(__version__)}{where}.</footer>\n"
        "</main>\n</body>\n</html>\n"
    )


def _table(
    header: list[str],
    rows: list[tuple[list[str], str]],
    *,
    numbers_from: int | None = None,
    css: str = "",
    head: bool = True,
) -> str:
    """A table of cells that are already HTML (escape strings with _e first).

    Columns from ``numbers_from`` on hold numbers, aligned right.
    """
    top = "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>"
    first = len(header) if numbers_from is None else numbers_from
    lines = []
    for cells, row_css in rows:
        tds = "".join(
            f'<td class="n">{c}</td>' if i >= first else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        lines.append(
            f'<tr class="{row_css}">{tds}</tr>' if row_css else f"<tr>{tds}</tr>"
        )
    css_attr = f' class="{css}"' if css else ""
    body = f"{top if head else ''}<tbody>{''.join(lines)}</tbody>"
    return f'<div class="wide"><table{css_attr}>{body}</table></div>'


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError(
            'reports need matplotlib: pip install "nntune[plots]".'
        ) from None


def _recorded(history: History, *columns: str) -> bool:
    return any(row.get(c) is not None for row in history.epochs for c in columns)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else _e(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _percent(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else _e(value)
    return f"{100 * value:.2f}%"


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    minutes, seconds = divmod(float(value), 60)
    return f"{int(minutes)} min {seconds:.0f} s" if minutes else f"{seconds:.2f} s"


def _badge(verdict: Any) -> str:
    if verdict is None:
        return "—"
    css = "badge ok" if verdict in _GOOD else "badge"
    return f'<span class="{css}">{_e(verdict)}</span>'


def _list(items: Any, css: str = "") -> str:
    css_attr = f' class="{css}"' if css else ""
    return (
        f"<ul{css_attr}>" + "".join(f"<li>{_e(i)}</li>" for i in items or []) + "</ul>"
    )
