"""A pricing page saved as HTML: model rows in tables, units read from header, caption or cell."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from selectolax.lexbor import LexborHTMLParser, LexborNode

from costproof.model.errors import InputError
from costproof.model.money import dec
from costproof.model.pricing import PriceRule, PricingParse
from costproof.sources.pricing.common import read_currency, read_unit, storable

NAME = "html-table"
VERSION = "html-table/1"

# Column roles by header text, first match wins. Batch, training and context-window columns
# are named first so that "Batch input" never reads as the standard input price.
ROLES: tuple[tuple[str, str], ...] = (
    ("ignore", r"\bbatch\b|\btrain|\bfine-?tun|\bcontext\b|\bmax\b|\blimit|\bdescription\b"),
    ("model", r"\bmodels?\b|\bmodel id\b|^\s*name\s*$"),
    ("unit", r"^\s*(pricing |billing )?units?\s*$"),
    ("currency", r"^\s*currency\s*$"),
    ("cache_write_tokens", r"cache\s*-?\s*(write|writes|creation)"),
    ("cached_input_tokens", r"\bcached\b|cache\s*-?\s*(read|reads|hit|hits)"),
    ("audio_input_tokens", r"audio\s+input|input\s+audio"),
    ("audio_output_tokens", r"audio\s+output|output\s+audio"),
    # Only a column that is about reasoning prices reasoning; "Output (incl. reasoning)" is output.
    ("reasoning_tokens", r"^\W*(reasoning|thinking)\b"),
    ("input_tokens", r"\binput\b|\bprompt\b"),
    ("output_tokens", r"\boutput\b|\bcompletion\b"),
    ("images", r"\bimages?\b"),
    ("requests", r"\brequests?\b|\bcalls?\b"),
    ("seconds", r"\bseconds?\b|\bper sec\b"),
    ("price", r"\bprice\b|\bcost\b|\brate\b"),
)
NOUN_OF_METER = {
    "input_tokens": "tokens",
    "cached_input_tokens": "tokens",
    "cache_write_tokens": "tokens",
    "output_tokens": "tokens",
    "reasoning_tokens": "tokens",
    "audio_input_tokens": "tokens",
    "audio_output_tokens": "tokens",
    "images": "images",
    "requests": "requests",
    "seconds": "seconds",
}
METER_OF_NOUN = {"images": "images", "requests": "requests", "seconds": "seconds"}
EMPTY_CELLS = frozenset({"", "-", "–", "—", "n/a", "na", "none", "not available", "—*", "tbd"})
_FOOTNOTES = re.compile(r"[*†‡§¶¹²³⁴⁵⁶⁷⁸⁹⁰]+")
_AMOUNT = re.compile(r"^(?P<pre>[^\d.]*?)(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<post>.*)$")
_CURRENCY_TOKEN = re.compile(r"(?i)us\$|\$|€|£|¥|￥|\b(?:usd|eur|gbp|cny|rmb)\b")


@dataclass(frozen=True, slots=True)
class Column:
    index: int  # 0-based position after colspan expansion
    header: str
    role: str

    @property
    def name(self) -> str:
        return self.header or f"column {self.index + 1}"


def sniff(head: bytes, name: str) -> bool:
    text = head[:65536].decode("utf-8", "replace").lower()
    return "<table" in text and ("<html" in text or "<!doctype html" in text or "<td" in text)


def parse(pages: list[bytes], label: str) -> PricingParse:
    out = PricingParse(format=NAME, parser_version=VERSION)
    seen: set[tuple[str, str]] = set()
    table_no = 0
    used = 0
    for data in pages:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text", file=label) from None
        tree = LexborHTMLParser(text)
        # Footnote marks live in <sup>; scripts and styles are never page text.
        for node in tree.css("sup, script, style, template, noscript"):
            node.decompose()
        title = tree.css_first("title")
        if title is not None and "title" not in out.meta:
            out.meta["title"] = _text(title)
        for table in tree.css("table"):
            table_no += 1
            if _table(table, table_no, label, out, seen):
                used += 1
    out.meta["tables_found"] = str(table_no)
    out.meta["tables_used"] = str(used)
    if not out.rules:
        raise InputError(
            f"no pricing table found ({table_no} tables; a pricing table needs a Model column "
            "and at least one price column such as Input or Output)",
            file=label,
        )
    return out


def _table(table: LexborNode, t: int, label: str, out: PricingParse, seen: set[tuple[str, str]]) -> bool:
    rows, head_count = _rows(table)
    grid = _grid(rows)
    if not grid:
        return False
    if head_count == 0:
        head_count = _leading_header_rows(grid)
    headers = _headers(grid[:head_count])
    columns = [Column(i, h, _role(h)) for i, h in enumerate(headers)]
    model_cols = [c for c in columns if c.role == "model"]
    price_cols = [c for c in columns if c.role in NOUN_OF_METER or c.role == "price"]
    if not model_cols or not price_cols:
        return False
    model_col = model_cols[0]
    unit_col = next((c for c in columns if c.role == "unit"), None)
    currency_col = next((c for c in columns if c.role == "currency"), None)
    caption = table.css_first("caption")
    caption_text = _text(caption) if caption is not None else ""
    # A "Free" cell names no currency; it takes the one currency the table's prices use.
    found = {
        read_currency(_text(row[c.index])) for row in grid[head_count:] for c in price_cols if c.index < len(row)
    } - {None}
    table_currency = found.pop() if len(found) == 1 else None
    for r, cells in enumerate(grid[head_count:], start=head_count + 1):
        where = f"table {t} row {r}"
        texts = [_text(c) for c in cells]
        prices = {c.index: texts[c.index] for c in price_cols if c.index < len(texts)}
        if not any(re.search(r"\d|free", v, re.I) for v in prices.values()):
            continue  # a section heading or spacer row, not a priced model
        model = _model(cells[model_col.index]) if model_col.index < len(cells) else ""
        if not model:
            raise InputError("priced row has no model name", file=label, record=where, field=model_col.name)
        row_unit = texts[unit_col.index] if unit_col and unit_col.index < len(texts) else ""
        row_currency = texts[currency_col.index] if currency_col and currency_col.index < len(texts) else ""
        context = (row_unit, caption_text, table_currency)
        for col in price_cols:
            cell_text = prices.get(col.index, "")
            rule = _price_cell(
                cell_text,
                col,
                context,
                row_currency,
                model=model,
                label=label,
                where=where,
                ref=f"table[{t}].row[{r}].{col.name}",
            )
            if rule is None:
                continue
            if (model, rule.meter) in seen:
                out.warnings.append(f"{where}: {model} {rule.meter} listed again; first kept")
                continue
            seen.add((model, rule.meter))
            out.rules.append(rule)
    return True


def _price_cell(
    text: str,
    col: Column,
    context: tuple[str, str, str | None],
    row_currency: str,
    *,
    model: str,
    label: str,
    where: str,
    ref: str,
) -> PriceRule | None:
    row_unit, caption, table_currency = context
    clean = _FOOTNOTES.sub("", text).strip()
    if clean.lower() in EMPTY_CELLS:
        return None
    free = clean.lower() == "free"
    if free:
        amount, cell_currency, cell_unit = Decimal(0), None, None
    else:
        amount, cell_currency, cell_unit = _amount(clean, label=label, where=where, col=col)
    unit = (
        cell_unit
        or (read_unit(row_unit) if row_unit else None)
        or read_unit(col.header)
        or (read_unit(caption) if caption else None)
    )
    currency = (
        cell_currency
        or _iso(row_currency)
        or (read_currency(row_unit) if row_unit else None)
        or read_currency(col.header)
        or (read_currency(caption) if caption else None)
        or (table_currency if free else None)
    )
    if unit is None:
        raise InputError(
            f"cannot tell the unit of {text!r} (no unit such as '$ / 1M tokens' or 'per image' "
            "in the cell, the row's unit column, the column header or the table caption)",
            file=label,
            record=where,
            field=col.name,
        )
    if currency is None:
        raise InputError(
            f"cannot tell the currency of {text!r} (no '$' or ISO code in the cell, header or caption)",
            file=label,
            record=where,
            field=col.name,
        )
    noun, per = unit
    if col.role == "price":
        if noun == "tokens":
            raise InputError(
                f"column {col.name!r} prices tokens but does not say input or output",
                file=label,
                record=where,
                field=col.name,
            )
        meter = METER_OF_NOUN[noun]
    else:
        meter = col.role
        if NOUN_OF_METER[meter] != noun:
            raise InputError(
                f"unit of {text!r} is per {noun}, which does not fit a {meter} column",
                file=label,
                record=where,
                field=col.name,
            )
    return PriceRule(
        model=model,
        meter=meter,
        unit_price=amount,
        per_quantity=per,
        currency=currency,
        source_ref=ref,
        notes=f"{col.name}: {text}" if text != col.name else "",
    )


def _amount(text: str, *, label: str, where: str, col: Column) -> tuple[Decimal, str | None, tuple[str, int] | None]:
    m = _AMOUNT.match(text)
    if not m:
        raise InputError(f"no number in {text!r}", file=label, record=where, field=col.name)
    pre, post = m.group("pre"), m.group("post")
    pre_rest = _CURRENCY_TOKEN.sub("", pre).strip()
    if pre_rest:
        raise InputError(
            f"unreadable price {text!r} (text {pre_rest!r} before the number)",
            file=label,
            record=where,
            field=col.name,
        )
    currency = read_currency(pre) or read_currency(post)
    unit_text = _CURRENCY_TOKEN.sub("", post).strip()
    unit = None
    if unit_text:
        unit = read_unit(unit_text)
        if unit is None or re.search(r"\d\.\d|[$€£¥]\s*\d", post):
            raise InputError(
                f"unreadable price {text!r} (text {unit_text!r} after the number is not a unit)",
                file=label,
                record=where,
                field=col.name,
            )
    try:
        amount = dec(m.group("num"))
    except ValueError as exc:
        raise InputError(str(exc), file=label, record=where, field=col.name) from None
    return storable(amount, label=label, record=where, field=col.name), currency, unit


def _iso(text: str) -> str | None:
    code = text.strip().upper()
    return code if re.fullmatch(r"[A-Z]{3}", code) else None


def _rows(table: LexborNode) -> tuple[list[LexborNode], int]:
    """The table's own rows (not those of nested tables) and how many are in <thead>."""
    rows: list[LexborNode] = []
    head = 0
    for child in table.iter():
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            section = [r for r in child.iter() if r.tag == "tr"]
            if child.tag == "thead":
                head += len(section)
            rows.extend(section)
    return rows, head


def _grid(rows: list[LexborNode]) -> list[list[LexborNode]]:
    """Rows of cells with colspan and rowspan expanded, so a column index means one column."""
    grid: list[list[LexborNode]] = []
    pending: dict[int, tuple[LexborNode, int]] = {}
    for row in rows:
        out: list[LexborNode] = []
        for cell in row.iter():
            if cell.tag not in ("td", "th"):
                continue
            _carry(out, pending)
            colspan = _span(cell.attributes.get("colspan"))
            rowspan = _span(cell.attributes.get("rowspan"))
            for _ in range(colspan):
                if rowspan > 1:
                    pending[len(out)] = (cell, rowspan - 1)
                out.append(cell)
        _carry(out, pending)
        grid.append(out)
    return grid


def _carry(out: list[LexborNode], pending: dict[int, tuple[LexborNode, int]]) -> None:
    """Fill in cells that a rowspan from an earlier row reaches into at the current column."""
    while len(out) in pending:
        cell, left = pending.pop(len(out))
        if left > 1:
            pending[len(out)] = (cell, left - 1)
        out.append(cell)


def _span(value: str | None) -> int:
    # Browsers clamp spans the same way; a span of 0 or junk is one cell.
    try:
        return max(1, min(int(str(value or "1").strip()), 1000))
    except ValueError:
        return 1


def _leading_header_rows(grid: list[list[LexborNode]]) -> int:
    count = 0
    for cells in grid:
        if cells and all(c.tag == "th" for c in cells):
            count += 1
        else:
            break
    if count:
        return count
    # A thead-less table whose first row is plain cells: it is the header if it names a model.
    first = [_text(c) for c in grid[0]]
    return 1 if any(_role(h) == "model" for h in first) else 0


def _headers(head_rows: list[list[LexborNode]]) -> list[str]:
    width = max((len(r) for r in head_rows), default=0)
    headers = []
    for i in range(width):
        parts: list[str] = []
        for row in head_rows:
            if i < len(row):
                text = _text(row[i])
                if text and (not parts or parts[-1] != text):
                    parts.append(text)
        headers.append(" ".join(parts))
    return headers


def _role(header: str) -> str:
    low = _FOOTNOTES.sub("", header).lower()
    for role, pattern in ROLES:
        if re.search(pattern, low):
            return role
    return "ignore"


def _model(cell: LexborNode) -> str:
    # Pages show a display name with badges ("GPT-4o mini  New"); an id in <code> or a
    # data-model attribute is the API model id, so prefer it.
    code = cell.css_first("code")
    if code is not None and _text(code):
        return _text(code)
    for node in [cell, *cell.css("[data-model]")]:
        value = node.attributes.get("data-model")
        if value:
            return value.strip()
    return _FOOTNOTES.sub("", _text(cell)).strip()


def _text(node: LexborNode) -> str:
    return " ".join((node.text(deep=True, separator=" ") or "").split())
