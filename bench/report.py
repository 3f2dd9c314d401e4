"""Medians and plain-text tables for the benchmarks."""

import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(title, columns, rows):
    """Print ``rows`` (lists of cells) under ``columns`` as an aligned text table."""
    shown = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(c)), *(len(row[i]) for row in shown)) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  " + "  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in shown:
        print("  " + "  ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)))


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
