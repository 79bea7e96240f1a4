"""Repeated looks at a growing set of seeds, with error rates that hold however often one looks.

Adding seeds until the interval decides, and deciding at every look with a plain 95% interval, would make false
verdicts far more likely than 5%: every look is another chance for noise to cross a line. The verdict instead uses
repeated confidence intervals (Jennison & Turnbull 2000, "Group Sequential Methods with Applications to Clinical
Trials", ch. 9): a sequence of intervals that all cover the true difference together with probability 95%, so any
verdict read off any of them, at whichever look one stops, is wrong at most 5% of the time. Their widths come from
a two-sided group-sequential boundary whose 5% error is spent over the looks by Lan & DeMets' (1983) Pocock-type
spending function, alpha * ln(1 + (e - 1) * t), t being the share of the planned maximum of seeds trained so far.

A look is allowed at every seed count from 2 (the first with an interval) to the maximum, so the boundary does not
depend on when the user looked: looking less often only makes the verdicts more cautious than they need be.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtri, stdtrit
from scipy.stats import norm

FIRST_LOOK = 2  # the fewest seeds per architecture that give an interval
GRID_POINTS = 801  # per look, for the numerical integration of the boundary-crossing probabilities


def pocock_spending(fraction: float, alpha: float) -> float:
    """Lan & DeMets' Pocock-type spending: the error spent once `fraction` of the planned seeds are trained."""
    return alpha * math.log(1 + (math.e - 1) * min(fraction, 1.0))


def two_sided_boundaries(fractions: list[float], alpha: float) -> np.ndarray:
    """Standard-normal critical values c_k for looks at the given information fractions: under no difference, the
    chance that |Z_k| >= c_k at some look, and first at look k, is what the spending function adds at look k.

    The statistics Z_k of a growing sample are jointly normal with Cov(Z_j, Z_k) = sqrt(t_j / t_k); the crossing
    probabilities are integrated look by look on a grid of the score S_k = Z_k sqrt(t_k) (Armitage, McPherson &
    Rowe 1969; Jennison & Turnbull 2000, ch. 19)."""
    critical = []
    previous_fraction, previous_spent = 0.0, 0.0
    grid = density = weights = None
    for fraction in fractions:
        to_spend = pocock_spending(fraction, alpha) - previous_spent
        step = fraction - previous_fraction
        if density is None:
            c = norm.isf(to_spend / 2)
        else:
            def crossing(c: float) -> float:
                edge = c * math.sqrt(fraction)
                stays = norm.cdf((edge - grid) / math.sqrt(step)) - norm.cdf((-edge - grid) / math.sqrt(step))
                return float(np.sum(weights * density * (1 - stays))) - to_spend
            c = brentq(crossing, 0.0, 40.0, xtol=1e-10)
        critical.append(c)
        new_grid = np.linspace(-c * math.sqrt(fraction), c * math.sqrt(fraction), GRID_POINTS)
        if density is None:
            new_density = norm.pdf(new_grid, scale=math.sqrt(fraction))
        else:
            kernel = norm.pdf((new_grid[:, None] - grid[None, :]) / math.sqrt(step)) / math.sqrt(step)
            new_density = kernel @ (weights * density)
        grid, density = new_grid, new_density
        weights = np.full(GRID_POINTS, grid[1] - grid[0])
        weights[[0, -1]] /= 2  # trapezoid rule
        previous_fraction, previous_spent = fraction, previous_spent + to_spend
    return np.array(critical)


@functools.lru_cache(maxsize=None)
def _boundaries(max_seeds: int, alpha: float) -> tuple[float, ...]:
    fractions = [seeds / max_seeds for seeds in range(FIRST_LOOK, max_seeds + 1)]
    return tuple(two_sided_boundaries(fractions, alpha))


def look_error(seeds: int, max_seeds: int, alpha: float) -> float:
    """The two-sided tail probability that the interval at a look with `seeds` seeds per architecture leaves out,
    when seeds are added one look at a time up to `max_seeds` (much less than `alpha` at any single look)."""
    c = _boundaries(max_seeds, alpha)[min(seeds, max_seeds) - FIRST_LOOK]
    return float(2 * norm.sf(c))


def normal_critical_value(error: float) -> float:
    """The standard normal's two-sided critical value for `error`."""
    return float(-ndtri(error / 2))


def critical_value(seeds: int, max_seeds: int, alpha: float, freedom: float) -> float:
    """The repeated confidence interval's half-width in standard errors: the boundary's tail probability, read off
    Student's t with the look's degrees of freedom (the seeds' spread is estimated, not known)."""
    return float(-stdtrit(freedom, look_error(seeds, max_seeds, alpha) / 2))  # scipy.special: fast in simulations
