#!/usr/bin/env python
"""Build the seed study's model panel from yearbook-style tables.

    python scripts/build_indices.py                       # rebuilds the bundled synthetic_ua panel
    python scripts/build_indices.py --raw mytables/ --out panel.csv
    python scripts/build_indices.py --raw mytables/ --benchmark sample --variant difference

Reads the tables documented in docs/indices.md (employment by industry, city and national
series, the city table, optionally a deflator), computes resi, mar, jacobs, inf, tra, ftri, inv
with bayes_sdm.indices and writes one CSV row per city and year with the city's region, ready
for ``scripts/fit_region.py --data``.  Exit codes: 0 ok, 2 bad input (the message names the
file, column, unit, city or year).  Thin wrapper: the formulas and checks live in
bayes_sdm.indices.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from bayes_sdm import indices
from bayes_sdm.errors import InputError

EXIT_OK, EXIT_INPUT = 0, 2
#: File names looked up in --raw (the bundled synthetic_ua/raw layout).
RAW_NAMES = {
    "employment": ("employment_wide.csv", "employment.csv"),
    "national_employment": ("national_employment.csv",),
    "city_series": ("city_series.csv",),
    "national_series": ("national_series.csv",),
    "cities": ("cities.csv",),
}
DESCRIPTION = {
    "employment": "employment by industry (wide: city, year, one column per industry; or long: "
                  "city, year, industry, employment)",
    "national_employment": "national employment by industry (year, industry, employment)",
    "city_series": "city series (city, year, gdp_growth, gdp, telecom, road_area, "
                   "built_up_area, fdi_usd, science_exp, budget_exp[, gdp_pc])",
    "national_series": "national series (year, gdp_growth, rmb_per_usd or rmb_per_100usd)",
    "cities": "city table (city, province[, agglomeration])",
    "deflator": "deflator (year[, province | city], deflator; base 100)",
}


def bundled_raw_dir() -> Path:
    """The folder of the bundled synthetic_ua raw tables."""
    return Path(str(resources.files("bayes_sdm.datasets").joinpath("data", "synthetic_ua",
                                                                   "raw")))


def _pairs(values, what: str) -> dict[str, str]:
    out = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key or not val:
            raise InputError(f"{what} {v!r} is not of the form NAME=VALUE")
        out[key.strip()] = val.strip()
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build_indices.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Input layouts, yearbook items and units: docs/indices.md.")
    p.add_argument("--raw", default=None,
                   help="folder with the tables under their standard names "
                        f"({', '.join(n[0] for n in RAW_NAMES.values())}); default: the bundled "
                        "synthetic_ua raw tables")
    for key in RAW_NAMES:
        p.add_argument(f"--{key.replace('_', '-')}", default=None, metavar="CSV",
                       help=f"{DESCRIPTION[key]}; overrides --raw")
    p.add_argument("--benchmark", choices=indices.BENCHMARKS, default=None,
                   help="benchmark of the industry shares IS_j for mar and jacobs: 'national' "
                        "(the national employment table, the default when one is given or in "
                        "--raw) or 'sample' (the sum over the table's cities); never implicit")
    p.add_argument("--variant", choices=indices.RESILIENCE_VARIANTS, default="ratio",
                   help="resilience: 'ratio' (Martin et al. 2016, the study's; unstable when "
                        "national growth barely changes) or 'difference' (its numerator, in "
                        "percentage points)")
    p.add_argument("--region", choices=indices.REGION_SCHEMES, default="belt",
                   help="region column: NBS east/central/west belt of the province (default), "
                        "NBS four regions (nbs4), the agglomeration, or none")
    p.add_argument("--years", nargs=2, type=int, metavar=("FIRST", "LAST"), default=None,
                   help="panel years (default: every year of the city series after its first; "
                        "the year before FIRST is read for its growth rate only)")
    p.add_argument("--deflator", default=None, metavar="CSV",
                   help=f"{DESCRIPTION['deflator']}: gdp_pc is then nominal and is deflated")
    p.add_argument("--unit", action="append", metavar="COLUMN=UNIT",
                   help="unit of a raw series, e.g. road_area=km2 (default units in "
                        "docs/indices.md); repeatable")
    p.add_argument("--column", action="append", metavar="CANONICAL=NAME",
                   help="the city/national series column holding a canonical series, e.g. "
                        "telecom=电信业务总量; repeatable")
    p.add_argument("--fractions", action="store_true",
                   help="control ratios as fractions instead of per cent")
    p.add_argument("--out", default="runs/indices/panel.csv", help="output CSV")
    p.add_argument("--quiet", action="store_true")
    return p


def _locate(args) -> dict[str, Path | None]:
    raw = Path(args.raw) if args.raw else bundled_raw_dir()
    if args.raw and not raw.is_dir():
        raise InputError(f"--raw: folder {str(raw)!r} not found")
    paths: dict[str, Path | None] = {}
    for key, names in RAW_NAMES.items():
        given = getattr(args, key)
        if given:
            paths[key] = Path(given)
            continue
        found = next((raw / n for n in names if (raw / n).is_file()), None)
        paths[key] = found
    return paths


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    paths = _locate(args)
    for key in ("employment", "city_series", "national_series"):
        if paths[key] is None:
            raise InputError(f"no {DESCRIPTION[key]}: give --{key.replace('_', '-')} or put "
                             f"{RAW_NAMES[key][0]} in --raw")
    if args.region != "none" and paths["cities"] is None:
        raise InputError(f"--region {args.region} needs the {DESCRIPTION['cities']}: give "
                         "--cities, put cities.csv in --raw, or use --region none")
    notes = []
    if args.benchmark == "sample":
        if args.national_employment:
            raise InputError("--benchmark sample and --national-employment were both given; "
                             "choose one")
        if paths["national_employment"] is not None:
            notes.append(f"--benchmark sample: {paths['national_employment']} is not used")
        paths["national_employment"] = None
    elif paths["national_employment"] is None:
        raise InputError("the benchmark of the industry shares must be explicit: give the "
                         "national employment by industry (--national-employment, or "
                         "national_employment.csv in --raw) or choose --benchmark sample")
    labels = {k: f"{k.replace('_', ' ')} table {str(p)!r}" for k, p in paths.items() if p}
    tables = {k: indices.read_table(p, labels[k]) for k, p in paths.items() if p}
    deflator = None
    if args.deflator:
        labels["deflator"] = f"deflator table {args.deflator!r}"
        deflator = indices.read_table(args.deflator, labels["deflator"])
    emp = indices.long_employment(tables["employment"], ("city", "year"), labels["employment"])
    nat_emp = tables.get("national_employment")
    if nat_emp is not None:
        nat_emp = indices.long_employment(nat_emp, ("year",), labels["national_employment"])
    panel = indices.build_panel(
        emp, tables["city_series"], tables["national_series"], tables.get("cities"),
        region=args.region, labels=labels, national_employment=nat_emp,
        benchmark=args.benchmark, variant=args.variant, years=args.years, deflator=deflator,
        units=_pairs(args.unit, "--unit"), columns=_pairs(args.column, "--column"),
        percent=not args.fractions)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    panel.to_csv(out, index=False, lineterminator="\n")
    if not args.quiet:
        a = panel.attrs
        print(f"wrote {out}: {len(panel)} rows, {panel['city'].nunique()} cities, years "
              f"{a['years'][0]}-{a['years'][1]}")
        print(f"  resilience: {a['resilience_variant']}; industry benchmark: "
              f"{a['national_shares']}; controls in {'per cent' if a['percent'] else 'fractions'}"
              f"; gdp_pc: {a['gdp_pc']}")
        if "region" in panel.columns:
            counts = panel.drop_duplicates("city")["region"].value_counts().to_dict()
            print(f"  region ({args.region}): {counts}")
        for n in notes:
            print(f"  note: {n}")
        x = " ".join(c for c in indices.INDEX_COLUMNS if c != "resi")
        reg = " --region-col region" if "region" in panel.columns else ""
        w = " --weights economic-distance:gdp_pc" if "gdp_pc" in panel.columns else ""
        print(f"  next: python scripts/fit_region.py --data {out} --unit city --time year "
              f"--y resi --x {x}{w}{reg}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
