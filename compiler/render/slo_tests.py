"""`promtool test rules` unit tests for a rendered PrometheusRule's SLO alerts.

Generated from the rule object as rendered (what `gitopsc compile` wrote), so that what
is proven is what Prometheus would load: for each SLO and each of the workbook's four
burn-rate alerts (render/slo.py), a synthetic error series burns the budget

    at 1.25x the alert's rate, for as long as its long window, after three days of
    clean traffic (so the longer windows are diluted, as in production): the alert
    fires at the end of the burn, and is resolved once its short window has passed
    since the burn stopped;
    at 0.8x its rate for as long: it does not fire.

The other alerts' expected states at those moments follow from the same arithmetic
(error ratio over a window = burn x overlap / window); a moment at which any alert would
stand within 10% of its threshold is refused rather than tested, so no case is decided
by sampling edges. A wrong threshold, window or selector in a rendered alert makes its
case fail.

The SLI itself is the catalog's PromQL over the service's own metrics, which a generic
test cannot feed: in the rules file given to promtool, each `slo:sli_error:ratio_rate<w>`
recording rule of the SLO computes the same ratio from two synthetic counters
(`gitopsc_slo_errors_total`, `gitopsc_slo_requests_total`, labelled with the SLO's name)
instead; every other rule (the budget, the alerts, their labels) is the rendered one.
`promtool check rules` checks the SLI expressions as rendered (tests/).
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

from compiler.render import slo

HISTORY = 3 * 24 * 60  # minutes of clean traffic before a burn: the longest long window
REQUESTS = 1000  # requests per minute
MARGIN = Fraction(1, 10)
STEP = 5  # minutes between rule evaluations
SETTLE = 15  # minutes after a short window has passed since the burn, to test the resolve
RULES_FILE = "rules.yaml"


def _minutes(window: str) -> int:
    return int(slo.hours(window) * 60)


def _number(value: Fraction) -> str:
    return format(float(value), ".10g")


def unit_tests(rule: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(rules file, test file) for `promtool test rules`, from a rendered PrometheusRule;
    the test file names the rules file `rules.yaml`."""
    rendered = rule["spec"]["groups"]
    tests = []
    # the budget groups feed dashboards, not alerts: left out, they would cost every
    # evaluation step a 30-day range
    groups = [copy.deepcopy(g) for g in rendered if not g["name"].endswith("-budget")]
    for name, spent, window, alerts in _slos(rendered):
        for group in groups:
            if group["name"] == f"slo-{name}-sli":
                for entry in group["rules"]:
                    span = entry["record"].removeprefix(slo.record(""))
                    entry["expr"] = (
                        f'sum(rate(gitopsc_slo_errors_total{{slo="{name}"}}[{span}])) / '
                        f'sum(rate(gitopsc_slo_requests_total{{slo="{name}"}}[{span}]))'
                    )
        tests += _cases(name, spent, window, alerts)
    return {"groups": groups}, {
        "rule_files": [RULES_FILE],
        # every moment tested is a multiple of 5 minutes; the series have one sample a
        # minute, so that the 5-minute window always holds several
        "evaluation_interval": f"{STEP}m",
        "tests": tests,
    }


def _slos(
    groups: list[dict[str, Any]],
) -> list[tuple[str, Fraction, str, list[dict[str, Any]]]]:
    """(name, error budget, window, burn-rate alert rules) of each SLO in the groups."""
    found = []
    for group in groups:
        if not (group["name"].startswith("slo-") and group["name"].endswith("-budget")):
            continue
        name = group["name"].removeprefix("slo-").removesuffix("-budget")
        (budget,) = [r for r in group["rules"] if r.get("record") == "slo:error_budget:ratio"]
        spent = Fraction(budget["expr"].removeprefix("vector(").removesuffix(")"))
        (period,) = [r for r in group["rules"] if r.get("record", "").startswith(slo.record(""))]
        (alerting,) = [g for g in groups if g["name"] == f"slo-{name}-alerts"]
        window = period["record"].removeprefix(slo.record(""))
        found.append(
            (name, spent, window, [r for r in alerting["rules"] if r.get("alert") == slo.ALERT])
        )
    return found


def _cases(
    name: str, spent: Fraction, window: str, alerts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The test groups of one SLO: per alert, a burn above its rate and one below."""
    table = [
        (
            alert,
            slo.burn_rate(window, long, share),
            _minutes(long),
            _minutes(short),
        )
        for alert, (_, long, short, share) in zip(alerts, slo.BURNS, strict=True)
    ]
    cases = []
    for alert, rate, long, short in table:
        for factor, label in ((Fraction(5, 4), "fires"), (Fraction(4, 5), "stays quiet")):
            burn = rate * factor
            errors = burn * spent * REQUESTS
            history, expected = _history(table, burn, long, short, label == "fires")
            end = history + long
            moments = sorted(expected)
            total = moments[-1] + 1
            cases.append(
                {
                    "name": f"slo {name}: {_number(burn)}x over {alert['labels']['long_window']} "
                    f"(alert at {_number(rate)}x) {label}"
                    + (" and resolves" if label == "fires" else ""),
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": f'gitopsc_slo_requests_total{{slo="{name}"}}',
                            "values": f"0+{REQUESTS}x{total}",
                        },
                        {
                            "series": f'gitopsc_slo_errors_total{{slo="{name}"}}',
                            "values": f"0+0x{history} {_number(errors)}+{_number(errors)}"
                            f"x{long - 1} {_number(errors * long)}+0x{total - end}",
                        },
                    ],
                    "alert_rule_test": [
                        {
                            "eval_time": f"{moment}m",
                            "alertname": slo.ALERT,
                            "exp_alerts": [
                                {
                                    "exp_labels": dict(table[index][0]["labels"]),
                                    "exp_annotations": dict(table[index][0]["annotations"]),
                                }
                                for index in expected[moment]
                            ],
                        }
                        for moment in moments
                    ],
                }
            )
    return cases


def _history(
    table: list[tuple[Any, Fraction, int, int]],
    burn: Fraction,
    long: int,
    short: int,
    resolves: bool,
) -> tuple[int, dict[int, list[int]]]:
    """The minutes of clean traffic before the burn, and per moment tested the indexes
    of the alerts firing then. Three days (`HISTORY`) is the production picture: every
    window diluted by clean traffic. A shorter history that gives the same alerts at the
    same moments (after the burn's end) is taken instead: each minute of it is an
    evaluation step for promtool."""

    def expected(history: int) -> dict[int, list[int]]:
        end = history + long
        moments = [end] + ([end + short + SETTLE] if resolves else [])
        return {
            moment: [
                index
                for index, (_, rate, other_long, other_short) in enumerate(table)
                if _firing(burn, rate, (history, end), moment, (other_long, other_short))
            ]
            for moment in moments
        }

    reference = expected(HISTORY)
    shifted = [[*alerts] for _, alerts in sorted(reference.items())]
    for history in range(0, HISTORY, 24 * 60):
        try:
            found = expected(history)
        except ValueError:
            continue
        if [[*alerts] for _, alerts in sorted(found.items())] == shifted:
            return history, found
    return HISTORY, reference


def _firing(
    burn: Fraction,
    rate: Fraction,
    burning: tuple[int, int],
    moment: int,
    windows: tuple[int, int],
) -> bool:
    """Whether an alert at `rate` fires at `moment` (minutes) while the errors burn at
    `burn` during `burning`: both of its windows' error ratios above its threshold (a
    window within the margin of it is an error, unless the other is clearly below)."""
    near = None
    for window in windows:
        start = moment - window
        overlap = max(0, min(burning[1], moment) - max(burning[0], start))
        # a window reaching back before the first sample holds the samples since then
        ratio = burn * Fraction(overlap, min(window, moment))
        if ratio < rate * (1 - MARGIN):
            return False  # one window clearly below: quiet, whatever the other says
        if ratio <= rate * (1 + MARGIN):
            near = (window, ratio)
    if near is not None:
        raise ValueError(
            f"at minute {moment} the {near[0]}m window's burn {float(near[1]):.3g}x is "
            f"within {MARGIN} of the alert's {float(rate):.3g}x: no sure expectation"
        )
    return True
