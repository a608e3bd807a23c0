"""SLOs into Prometheus rule groups: multi-window, multi-burn-rate alerting (issue 18).

The Google SRE workbook ("Alerting on SLOs", table 5-8) pages when the error budget
burns at 14.4x over 1h (and 5m) or 6x over 6h (and 30m), and opens a ticket at 3x over
1d (and 2h) or 1x over 3d (and 6h); the short window makes an alert resolve soon after
the burn stops. Sloth and Pyrra implement it the same way: one recording rule per
window for the SLI's error ratio (`slo:sli_error:ratio_rate<window>`), and alerts that
compare a long and a short window against `burn rate x (1 - objective)`. The rates are
the workbook's shares of the budget (2% in 1h, 5% in 6h, 10% in 1d, 10% in 3d), so a
28-day window gets 13.44x, 5.6x, 2.8x and 0.93x, as Sloth computes them.

Each alert is its own rule (`ErrorBudgetBurn`, Pyrra's name) with `long_window`,
`short_window` and `burn_rate` labels, so that a unit test can prove each one fires at its
rate and not below it (tests/test_monitoring_promtool.py, through `unit_tests` here).
No `for:`: the short window already holds the alert to a burn that is still going on,
and a `for` would delay a page by that much on top (the workbook's alerts have none).
Pure functions of an SLO and the labels to put on its rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from compiler.catalog import Slo, at_window

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (kind, long window, short window, share of the budget the long window consumes)
BURNS = (
    ("page", "1h", "5m", Fraction(2, 100)),
    ("page", "6h", "30m", Fraction(5, 100)),
    ("ticket", "1d", "2h", Fraction(10, 100)),
    ("ticket", "3d", "6h", Fraction(10, 100)),
)
ALERT = "ErrorBudgetBurn"
_HOURS = {"m": Fraction(1, 60), "h": Fraction(1), "d": Fraction(24)}


def hours(window: str) -> Fraction:
    return int(window[:-1]) * _HOURS[window[-1]]


def record(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def budget(slo: Slo) -> Fraction:
    """The error budget, 1 - objective, exactly (99.9 -> 1/1000)."""
    return 1 - Fraction(str(slo.objective)) / 100


def burn_rate(window: str, long: str, share: Fraction) -> Fraction:
    """How many times the budget's even rate the long window may burn before the
    alert fires: `share` of the whole `window`'s budget spent within `long`."""
    return share * hours(window) / hours(long)


def number(value: Fraction) -> str:
    """A fraction as PromQL writes it: short, and the same on every run."""
    return format(float(value), ".10g")


def matchers(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def error_ratio(slo: Slo, window: str) -> str:
    """The SLI's error ratio over `window`, from errors/total or good/total."""
    total = at_window(slo.sli.total, window)
    if slo.sli.errors is not None:
        return f"({at_window(slo.sli.errors, window)}) / ({total})"
    assert slo.sli.good is not None
    return f"1 - (({at_window(slo.sli.good, window)}) / ({total}))"


def rule_groups(
    name: str, slo: Slo, labels: Mapping[str, str], routing: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The recording and alerting groups of one SLO. `labels` go on every series and
    alert (slo, customer, service, environment); `routing` holds, per kind of alert
    (`page`, `ticket`), the owner team's routing labels."""
    own = {**labels, "slo": name}
    selector = matchers(own)
    ratios = [
        {"record": record(window), "expr": error_ratio(slo, window), "labels": dict(own)}
        for window in WINDOWS
    ]
    spent = budget(slo)
    period = [
        {
            # over the SLO's whole window: the average of the 5m ratios (Sloth's way;
            # a 30-day rate of the raw counters would cost every evaluation a month)
            "record": record(slo.window),
            "expr": f"sum_over_time({record('5m')}{selector}[{slo.window}]) / "
            f"count_over_time({record('5m')}{selector}[{slo.window}])",
            "labels": dict(own),
        },
        {
            "record": "slo:objective:ratio",
            "expr": f"vector({number(1 - spent)})",
            "labels": dict(own),
        },
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector({number(spent)})",
            "labels": dict(own),
        },
        {
            "record": "slo:error_budget_remaining:ratio",
            "expr": f"1 - ({record(slo.window)}{selector} / {number(spent)})",
            "labels": dict(own),
        },
    ]
    alerts = []
    for kind, long, short, share in BURNS:
        rate = burn_rate(slo.window, long, share)
        threshold = f"({number(rate)} * {number(spent)})"
        alerts.append(
            {
                "alert": ALERT,
                "expr": f"{record(long)}{selector} > {threshold} "
                f"and {record(short)}{selector} > {threshold}",
                "labels": {
                    **own,
                    **routing[kind],
                    "long_window": long,
                    "short_window": short,
                    "burn_rate": number(rate),
                    "slo_severity": kind,
                },
                "annotations": {
                    "summary": f"SLO {name} of {labels.get('service', '')} burns its error "
                    f"budget at {number(rate)}x (over {long} and {short})",
                    "description": (slo.description or f"objective {slo.objective}%")
                    + f" over {slo.window}; at this rate the budget lasts "
                    f"{number(hours(slo.window) / rate)}h",
                },
            }
        )
    return [
        {"name": f"slo-{name}-sli", "rules": ratios},
        {"name": f"slo-{name}-budget", "rules": period},
        {"name": f"slo-{name}-alerts", "rules": alerts},
    ]
