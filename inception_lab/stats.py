"""The few statistics the report needs, without scipy: Student t quantiles, mean / std / 95% interval of a sample,
and Welch's interval for a difference of two means.

- ``summarize(values)``: n, mean, sample standard deviation (n - 1 in the denominator) and the half-width of the
  95% confidence interval of the mean, ``t(0.975, n - 1) * std / sqrt(n)`` (Student t; None below 2 values).
- ``welch(row, reference)``: the difference of means ``mean(row) - mean(reference)`` with Welch's 95% interval,
  half-width ``t(0.975, df) * sqrt(s1^2/n1 + s2^2/n2)``, df by the Welch-Satterthwaite formula (the seeds of two
  configurations need not have equal variances: an unstable configuration scatters more).
- ``t_quantile(p, df)``: the Student t quantile for any real df > 0, by bisection on the distribution function,
  which is the regularised incomplete beta function ``I_x(df/2, 1/2)`` with ``x = df / (df + t^2)``, evaluated by
  its continued fraction (modified Lentz method).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)), modified Lentz."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    value = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            value *= c * d
        if abs(c * d - 1.0) < eps:
            break
    return value


def incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(x, a, b) / a
    return 1.0 - front * _beta_fraction(1.0 - x, b, a) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (df may be fractional; inf = normal)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if math.isinf(df) or df > 1e7:
        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def t_critical(df: float, confidence: float = CONFIDENCE) -> float:
    """Two-sided critical value: the half-width of a ``confidence`` interval is this times the standard error."""
    return t_quantile(0.5 + confidence / 2.0, df)


@dataclass(frozen=True)
class Summary:
    """A sample of one metric over seeds."""

    n: int
    mean: float | None
    std: float | None  # sample standard deviation (n - 1); None below 2 values
    ci95: float | None  # half-width of the 95% interval of the mean (Student t, n - 1 df); None below 2 values


def summarize(values: Iterable[float]) -> Summary:
    values = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(values)
    if n == 0:
        return Summary(0, None, None, None)
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(1, mean, None, None)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Summary(n, mean, std, t_critical(n - 1) * std / math.sqrt(n))


@dataclass(frozen=True)
class Difference:
    """``mean(row) - mean(reference)`` with Welch's 95% interval (None when either side has fewer than 2 values)."""

    delta: float | None
    ci95: float | None
    df: float | None

    @property
    def excludes_zero(self) -> bool | None:
        if self.delta is None or self.ci95 is None:
            return None
        return abs(self.delta) > self.ci95


def welch(row: Summary, reference: Summary) -> Difference:
    if row.mean is None or reference.mean is None:
        return Difference(None, None, None)
    delta = row.mean - reference.mean
    if row.std is None or reference.std is None:
        return Difference(delta, None, None)
    v1, v2 = row.std ** 2 / row.n, reference.std ** 2 / reference.n
    se = math.sqrt(v1 + v2)
    if se == 0.0:  # every seed identical on both sides: no spread to speak of
        return Difference(delta, 0.0, float(row.n + reference.n - 2))
    df = (v1 + v2) ** 2 / (v1 ** 2 / (row.n - 1) + v2 ** 2 / (reference.n - 1))
    return Difference(delta, t_critical(df) * se, df)
