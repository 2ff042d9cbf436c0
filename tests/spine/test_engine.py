"""Engine pieces: exact rounding in SQL, the resolved rate table, tiers and group ratios."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costproof.engine.pricing import round_expr
from costproof.engine.rates import MAX_TIER, Snapshot, build
from costproof.model.pricing import PriceRule
from costproof.model.variance import RoundingRule

T0 = datetime(2026, 6, 1, tzinfo=UTC)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.decimals(min_value=Decimal("-99999"), max_value=Decimal("99999"), places=6,
                            allow_nan=False, allow_infinity=False), min_size=1, max_size=30),
       st.sampled_from(["half-up", "half-even"]), st.sampled_from([2, 3]))
def test_sql_rounding_equals_python_decimal(values: list[Decimal], mode: str, scale: int) -> None:
    con = ibis.duckdb.connect()
    arr = pa.array(values, pa.decimal128(38, 18))
    con.con.register("vals", pa.table({"x": arr, "i": list(range(len(values)))}))
    t = con.table("vals")
    got = t.select(t.i, r=round_expr(t.x, scale, mode)).order_by("i").to_pyarrow().column("r").to_pylist()
    rounding = ROUND_HALF_UP if mode == "half-up" else ROUND_HALF_EVEN
    want = [v.quantize(Decimal(10) ** -scale, rounding=rounding) for v in values]
    assert got == want


@pytest.mark.parametrize(
    ("name", "grain", "mode", "scale"),
    [("none", "none", "", 0), ("row-half-up-0.01", "row", "half-up", 2),
     ("cell-half-even-0.01", "line", "half-even", 2), ("day-half-up-0.001", "day", "half-up", 3),
     ("line-half-even-0.01", "line", "half-even", 2)],
)
def test_rounding_rule_names(name: str, grain: str, mode: str, scale: int) -> None:
    rule = RoundingRule.parse(name)
    assert (rule.grain, rule.mode, rule.scale) == (grain, mode, scale)


def test_rounding_rule_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="row-half-up-0.01"):
        RoundingRule.parse("banker")


def _rule(meter: str, price: str, **kw: object) -> PriceRule:
    return PriceRule(model="m", meter=meter, unit_price=Decimal(price), per_quantity=1_000_000, currency="USD", **kw)


def test_tiers_fallbacks_and_group_ratios_resolve_exactly() -> None:
    snap = Snapshot("s1", 1, T0, (
        _rule("input_tokens", "1.25"), _rule("output_tokens", "10"),
        _rule("input_tokens", "2.50", tier_min=200_000), _rule("output_tokens", "15", tier_min=200_000),
    ), {"default": Decimal(1), "vip": Decimal("0.8")})
    table = build([snap], ["", "vip"])
    rows = {(r["grp"], r["tier_lo"]): r for r in table.rows}
    assert set(rows) == {("", 0), ("", 200_000), ("vip", 0), ("vip", 200_000)}
    assert rows[("", 0)]["tier_hi"] == 200_000 and rows[("", 200_000)]["tier_hi"] == MAX_TIER
    assert rows[("", 0)]["p_input_tokens"] == Decimal("0.00000125")
    assert rows[("", 0)]["p_cached_input_tokens"] == Decimal("0.00000125")  # fallback: priced as input
    assert rows[("", 0)]["p_reasoning_tokens"] == Decimal("0.00001")  # reasoning billed as output
    assert rows[("vip", 200_000)]["p_output_tokens"] == Decimal("0.000012")
    assert rows[("", 0)]["p_images"] is None
    assert table.inexact == 0


def test_latest_snapshot_in_force_wins_and_rule_dates_split_bands() -> None:
    old = Snapshot("old", 1, T0, (_rule("input_tokens", "1"),))
    new = Snapshot("new", 2, datetime(2026, 6, 15, tzinfo=UTC), (
        _rule("input_tokens", "2", effective_to=datetime(2026, 6, 20, tzinfo=UTC)),
        _rule("input_tokens", "3", effective_from=datetime(2026, 6, 20, tzinfo=UTC)),
    ))
    table = build([old, new], [""])
    bands = [(r["snapshot_id"], r["valid_from"].day, r["valid_to"].year, r["p_input_tokens"]) for r in table.rows]
    assert bands == [("old", 1, 2026, Decimal("0.000001")), ("new", 15, 2026, Decimal("0.000002")),
                     ("new", 20, 9999, Decimal("0.000003"))]


def test_undocumented_group_is_noted_not_guessed() -> None:
    snap = Snapshot("s", 1, T0, (_rule("input_tokens", "1"),), {"default": Decimal("1.5")})
    table = build([snap], ["", "enterprise"])
    prices = {r["grp"]: r["p_input_tokens"] for r in table.rows}
    assert prices == {"": Decimal("0.0000015"), "enterprise": Decimal("0.000001")}
    assert any("enterprise" in n for n in table.notes)


def test_price_rule_refuses_float() -> None:
    with pytest.raises(TypeError):
        PriceRule(model="m", meter="input_tokens", unit_price=0.15, per_quantity=1, currency="USD")  # type: ignore[arg-type]
