"""Prices survive capture -> catalog -> `pricing show --json` exactly, as Decimal (hypothesis)."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.pricing_cli.conftest import CSV_HEADER
from tests.spine.conftest import Cli

from costproof.model.meters import METERS
from costproof.service import pricing as svc
from costproof.workspace import Workspace

MAX_PRICE = Decimal("99999999999999999999.999999999999999999")  # what DECIMAL(38, 18) holds


@st.composite
def prices(draw: st.DrawFn) -> Decimal:
    places = draw(st.integers(min_value=0, max_value=18))
    return draw(st.decimals(min_value=0, max_value=MAX_PRICE, places=places, allow_nan=False,
                            allow_infinity=False))


@st.composite
def multipliers(draw: st.DrawFn) -> Decimal:
    places = draw(st.integers(min_value=0, max_value=18))
    low = Decimal(1).scaleb(-places)
    return draw(st.decimals(min_value=low, max_value=Decimal(1000), places=places, allow_nan=False,
                            allow_infinity=False))


rule_rows = st.lists(
    st.tuples(st.sampled_from(METERS), prices(), st.sampled_from([1, 1000, 1_000_000, 37]),
              st.one_of(st.none(), multipliers())),
    min_size=1, max_size=8, unique_by=lambda r: r[0],
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rule_rows)
def test_prices_survive_the_catalog_exactly(rows: list[tuple[str, Decimal, int, Decimal | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cli = Cli(Path(tmp) / "ws")
        cli("init")
        sheet = Path(tmp) / "sheet.csv"
        lines = [f"m-{n},{meter},{price:f},{per},usd,,,,{'' if mult is None else f'{mult:f}'},,"
                 for n, (meter, price, per, mult) in enumerate(rows)]
        sheet.write_text(CSV_HEADER + "\n".join(lines) + "\n", "utf-8")
        snap = cli.json("pricing", "capture", str(sheet))
        shown = json.loads(cli("pricing", "show", snap["snapshot_id"], "--json").stdout, parse_float=_no_float)
        got = {r["model"]: r for r in shown["rules"]}
        for n, (meter, price, per, mult) in enumerate(rows):
            rule = got[f"m-{n}"]
            assert isinstance(rule["unit_price"], str) and isinstance(rule["multiplier"], str)
            assert (rule["meter"], rule["per_quantity"], rule["currency"]) == (meter, per, "USD")
            assert Decimal(rule["unit_price"]) == price
            assert Decimal(rule["multiplier"]) == (Decimal(1) if mult is None else mult)
        # and the rules the comparisons read back are the same Decimals
        with Workspace.open(cli.workspace) as ws:
            back = {r.model: r for r in svc.snapshot_rules(ws, snap["snapshot_id"])}
        for n, (_, price, _, mult) in enumerate(rows):
            assert isinstance(back[f"m-{n}"].unit_price, Decimal) and back[f"m-{n}"].unit_price == price
            assert back[f"m-{n}"].multiplier == (Decimal(1) if mult is None else mult)


def _no_float(text: str) -> Decimal:
    raise AssertionError(f"a float reached the JSON output: {text}")
