"""The seed study's indices, computed from yearbook-style city tables.

The dependent variable and the regressors of the seed study (economic resilience of the cities
of China's 18 urban agglomerations explained by agglomeration externalities, with controls,
2003-2018) are indices built from city statistics.  This module documents and implements each
formula once, and assembles the model panel (:func:`build_panel`) that
``scripts/fit_region.py --data`` reads.  The input layouts, with the Chinese yearbook items and
their units, are in ``docs/indices.md``; ``scripts/build_indices.py`` is the command.

Notation: ``r`` a city, ``n`` the nation, ``t`` a year, ``j`` an industry (sector).

Economic resilience (Martin, Sunley, Gardiner & Tyler 2016, "How regions react to recessions:
resilience and the role of economic structure", Regional Studies 50(4):561-585; the
"sensitivity index" of Martin 2012, J. Economic Geography 12(1):1-32, applied to real GDP
growth as in the seed study, its equation 2)::

    resi_{r,t} = [(G_{r,t} - G_{r,t-1}) - (G_{n,t} - G_{n,t-1})] / |G_{n,t} - G_{n,t-1}|

where ``G`` is the real GDP growth rate (地区生产总值增长率 / 国内生产总值增长率, comparable
prices, per cent; city and nation in the same unit).  ``variant="difference"`` returns the
numerator only.  Why offer it: the ratio divides by the change of the national growth rate,
which in 2004, 2013 and 2017 was about 0.1 percentage point against 4.5 in 2008, so the same
one-point movement of a city's growth is a resilience of 10 in one year and of 0.2 in
another; in years when national growth barely changes the ratio is dominated by noise (and by
the rounding of published growth rates to 0.1 point), and it is undefined when national growth
does not change at all.  The difference keeps every year on the scale of percentage points.

First-year rule: resilience in year t needs growth in t and t-1, so a panel starting in 2003
needs the 2002 growth rates of every city and of the nation, and nothing else from 2002.  The
panel's years are ``years`` when given, else every year of the city table after its earliest;
employment, the control series and ``gdp_pc`` are read for the panel's years only (rows of
other years may be blank).

MAR (Marshall-Arrow-Romer) specialisation, the largest location quotient over industries
(Duranton & Puga 2000, "Diversity and specialisation in cities", Urban Studies 37(3):533-555;
the seed study's equation 3, after Huo et al. 2016)::

    IS_{rj} = E_{rj} / sum_j E_{rj},   IS_j = E_{nj} / sum_j E_{nj}
    mar_r   = max_j IS_{rj} / IS_j

Jacobs diversity, the inverse of the modified Herfindahl index (Duranton & Puga 2000; the
seed study's equation 4)::

    jacobs_r = 1 / sum_j |IS_{rj} - IS_j|

``E`` is employment by industry (按行业分组的单位从业人员).  The benchmark shares ``IS_j`` are
never chosen silently: pass the national employment table (``national_employment``, the
national employment by industry of the China Statistical Yearbook), or ask for the sum over the
sample's cities with ``benchmark="sample"``.  A zero employment cell of a city is allowed (its
share is zero); a city-year with no employment at all, and an industry with zero benchmark
employment in a year (``IS_rj / IS_j`` undefined), are errors naming the cell.

Controls, ratios of yearbook series (China City Statistical Yearbook items), in per cent by
default (``percent=False`` gives fractions)::

    inf  = telecom business volume / GDP                            (信息化水平)
    tra  = urban road area / built-up area                          (交通发达程度)
    ftri = foreign capital actually used x RMB per USD of the year / GDP   (对外开放)
    inv  = science expenditure / general budget expenditure         (区域创新能力)

Each series has a unit (:data:`DEFAULT_UNITS`, the yearbook's: money in 10,000 yuan, foreign
capital in 10,000 USD, road area in 10,000 m^2, built-up area in km^2) that ``units`` can change
(:data:`UNIT_FACTORS`); the ratios are formed after converting to the default units.  A road
area larger than the built-up area, science spending above the budget or foreign capital above
GDP is refused with the city, year and units named (the usual cause is a unit mix-up, e.g. road
area in km^2 or an exchange rate per 100 USD).

Real GDP per capita (``gdp_pc``), the variable behind the seed study's inverse
economic-distance weights, is passed through when present; with a ``deflator`` table the
column is nominal and is divided by the price index (base 100).

Layout: pure array functions (``*_array``) underneath; the table functions validate their
inputs and raise :class:`~bayes_sdm.errors.InputError` naming the table, city, year, industry,
column or unit at fault.
"""

from __future__ import annotations

from .build import (  # noqa: F401
    build_indices,
    build_panel,
    panel_years,
)
from .controls import (  # noqa: F401
    control_ratios,
    deflate,
    exchange_rates,
)
from .files import (  # noqa: F401
    csv_read_options,
    employment_to_long,
    long_employment,
    read_table,
)
from .formulas import (  # noqa: F401
    diversity_array,
    industry_shares,
    resilience,
    resilience_array,
    specialisation_array,
    specialisation_diversity,
)
from .regions import (  # noqa: F401
    assign_regions,
    province_name,
)
from .schema import (  # noqa: F401
    BENCHMARKS,
    CITY_SERIES_COLUMNS,
    CONTROL_RATIOS,
    DEFAULT_UNITS,
    INDEX_COLUMNS,
    NATIONAL_SERIES_COLUMNS,
    PANEL_ID_COLUMNS,
    PROVINCE_BELT,
    PROVINCE_NBS4,
    PROVINCE_ZH,
    RATE_PER_100,
    REGION_SCHEMES,
    RESILIENCE_VARIANTS,
    SHARE_KINDS,
    SHARE_TOL,
    TABLE_LABELS,
    UNIT_FACTORS,
)

__all__ = [
    "BENCHMARKS",
    "CITY_SERIES_COLUMNS",
    "CONTROL_RATIOS",
    "DEFAULT_UNITS",
    "INDEX_COLUMNS",
    "NATIONAL_SERIES_COLUMNS",
    "PANEL_ID_COLUMNS",
    "PROVINCE_BELT",
    "PROVINCE_NBS4",
    "PROVINCE_ZH",
    "RATE_PER_100",
    "REGION_SCHEMES",
    "RESILIENCE_VARIANTS",
    "SHARE_KINDS",
    "SHARE_TOL",
    "TABLE_LABELS",
    "UNIT_FACTORS",
    "assign_regions",
    "build_indices",
    "build_panel",
    "control_ratios",
    "csv_read_options",
    "deflate",
    "diversity_array",
    "employment_to_long",
    "exchange_rates",
    "industry_shares",
    "long_employment",
    "panel_years",
    "province_name",
    "read_table",
    "resilience",
    "resilience_array",
    "specialisation_array",
    "specialisation_diversity",
]
