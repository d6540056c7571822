#!/usr/bin/env python3
"""Prints criterion's medians for `cargo bench --bench match` as a Markdown
table: fast path and oracle side by side, with the speed-up.

    cargo bench --bench match && python3 scripts/bench_table.py
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion" / "match"


def median_us(name, size):
    path = ROOT / name / str(size) / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1000.0


def fmt(us):
    return "—" if us is None else (f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} µs")


def main():
    if not ROOT.exists():
        sys.exit(f"no results under {ROOT}: run `cargo bench --bench match` first")
    sizes = sorted({int(p.name) for p in ROOT.glob("*/*") if p.name.isdigit()})
    print("| schools | request | top_k p50 | oracle p50 | speed-up |")
    print("|---:|---|---:|---:|---:|")
    for size in sizes:
        for label, suffix in [("default", ""), ("max 25 km", "_within_25km")]:
            fast, oracle = median_us("top_k" + suffix, size), median_us("brute_force" + suffix, size)
            ratio = f"{oracle / fast:.1f}×" if fast and oracle else "—"
            print(f"| {size:,} | {label} | {fmt(fast)} | {fmt(oracle)} | {ratio} |")


if __name__ == "__main__":
    main()
