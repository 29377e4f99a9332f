"""The benchmark's report: a Markdown table with the targets, a PNG chart, and the raw figures as JSON."""

from __future__ import annotations

import json
from pathlib import Path

ORDER = [
    "bare view",
    "discovery",
    "refresh grant",
    "code exchange",
    "introspection",
    "GET /api/tasks",
    "POST /api/tasks",
    "MCP list_tasks",
]
BASE_STATE = "10^3 tokens, 10^2 tasks"
GROWTH_STATES = {"10^6 tokens, 10^2 tasks": "10^6 vs 10^3 tokens", "10^3 tokens, 10^5 tasks": "10^5 vs 10^2 tasks"}


def _by(run: dict) -> dict[tuple[str, str], dict]:
    return {(row["scenario"], row["target"]): row for row in run["results"]}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def growth_ratios(run: dict) -> list[dict]:
    """Cost on the large table over cost on the small one, cost being time per request (1/rps).

    The small state is measured before and after the large ones: its figures are their mean.
    """
    rows: dict[tuple[str, str], list[dict]] = {}
    for row in run.get("growth", []):
        rows.setdefault((row["state"], row["scenario"]), []).append(row)

    def mean(found: list[dict], key: str) -> float:
        return sum(row[key] for row in found) / len(found)

    found = []
    for state, label in GROWTH_STATES.items():
        for scenario in ("GET /api/tasks", "introspection"):
            small, large = rows.get((BASE_STATE, scenario)), rows.get((state, scenario))
            if small and large:
                found.append(
                    {
                        "growth": label,
                        "scenario": scenario,
                        "rps_small": round(mean(small, "rps"), 1),
                        "rps_large": round(mean(large, "rps"), 1),
                        "cost_ratio": ratio(mean(small, "rps"), mean(large, "rps")),
                        "p50_ratio": ratio(mean(large, "p50_ms"), mean(small, "p50_ms")),
                    }
                )
    return found


def targets(run: dict) -> list[tuple[str, str, bool | None]]:
    """Issue 8's targets: (what, the figure, met?); None when the run did not measure it."""
    by = _by(run)

    def rps(name: str, target: str = "ours") -> float | None:
        row = by.get((name, target))
        return row["rps"] if row else None

    checks: list[tuple[str, str, bool | None]] = []
    for name in ("refresh grant", "introspection"):
        r = ratio(rps(name), rps(name, "peer"))
        checks.append((f"{name}: at least the peer's req/s", f"ours/peer {r}", None if r is None else r >= 1))
    for name, floor in (("GET /api/tasks", 0.7), ("MCP list_tasks", 0.5)):
        r = ratio(rps(name), rps("bare view"))
        checks.append(
            (f"{name}: at least {floor:.0%} of the bare view", f"ours/bare {r}", None if r is None else r >= floor)
        )
    errors = sum(row["errors"] for row in run["results"])
    checks.append(("no errors in any scenario", f"{errors} errors", errors == 0))
    worst = max(run["results"], key=lambda row: row["p99_ms"] / max(row["p50_ms"], 0.001), default=None)
    if worst:
        spread = round(worst["p99_ms"] / max(worst["p50_ms"], 0.001), 1)
        checks.append(
            (
                "p99 under 10 × p50, every scenario",
                f"worst {spread}× ({worst['target']} {worst['scenario']})",
                spread < 10,
            )
        )
    for row in growth_ratios(run):
        checks.append(
            (f"growth {row['growth']}, {row['scenario']}: under 1.3", f"{row['cost_ratio']}", row["cost_ratio"] < 1.3)
        )
    return checks


def _fmt(value, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.1f}{suffix}" if isinstance(value, float) else f"{value}{suffix}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(run: dict) -> str:
    by = _by(run)
    bare = by.get(("bare view", "ours"))
    lines = [
        "# Benchmark results",
        "",
        f"Run {run['when']}: wrk, {run['settings']['connections']} connections, {run['settings']['wrk_threads']} "
        f"threads, {run['settings']['warmup_s']:g} s warm-up then {run['settings'].get('repeat', 1)} runs of "
        f"{run['settings']['duration_s']:g} s per scenario, the median kept; "
        f"{run['settings']['workers']} server workers each.",
        "",
        "| Scenario | Taskgate req/s | p50 ms | p99 ms | errors | oidc-provider req/s | p50 ms | p99 ms | errors "
        "| ours/peer | ours/bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ORDER:
        ours, peer = by.get((name, "ours")), by.get((name, "peer"))
        if not ours and not peer:
            continue
        cells = [name]
        for row in (ours, peer):
            cells += (
                [_fmt(row["rps"]), _fmt(row["p50_ms"]), _fmt(row["p99_ms"]), str(row["errors"])] if row else ["–"] * 4
            )
        cells.append(_ratio(ratio(ours and ours["rps"], peer and peer["rps"])))
        cells.append(_ratio(ratio(ours and ours["rps"], bare and bare["rps"])) if name != "bare view" else "1.00")
        lines.append("| " + " | ".join(cells) + " |")
    growth = growth_ratios(run)
    if growth:
        lines += [
            "",
            "## Growth (cost = 1 / req/s; 1.0 means no growth; the small tables measured before and after)",
            "",
            "| Growth | Request | req/s small | req/s large | cost ratio | p50 ratio |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for row in growth:
            lines.append(
                f"| {row['growth']} | {row['scenario']} | {_fmt(row['rps_small'])} | {_fmt(row['rps_large'])} "
                f"| {_ratio(row['cost_ratio'])} | {_ratio(row['p50_ratio'])} |"
            )
    lines += ["", "## Targets (issue 8)", "", "| Target | Figure | Met |", "|---|---|---|"]
    for what, figure, met in targets(run):
        lines.append(f"| {what} | {figure} | {'–' if met is None else 'yes' if met else '**no**'} |")
    lines += ["", "## Machine and versions", ""]
    lines += [f"- {key}: {value}" for key, value in run["machine"].items()]
    return "\n".join(lines) + "\n"


def chart(run: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = _by(run)
    names = [name for name in ORDER if (name, "ours") in by or (name, "peer") in by]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(names) + 1.6), dpi=120)
    height = 0.38
    for offset, target, label, color in (
        (-height / 2, "ours", "Taskgate", "#2563eb"),
        (height / 2, "peer", "oidc-provider", "#f59e0b"),
    ):
        ys, values = [], []
        for index, name in enumerate(names):
            row = by.get((name, target))
            if row:
                ys.append(index + offset)
                values.append(row["rps"])
        bars = ax.barh(ys, values, height=height, label=label, color=color)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xscale("log")  # the peer and the bare view are 10 to 30 times ours on some rows
    ax.set_xlabel("requests per second, log scale (higher is better)")
    ax.set_title(
        f"Taskgate beside oidc-provider, {run['machine'].get('cores')} cores, {run['machine'].get('database')}"
    )
    ax.legend(loc="lower right")
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(run: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(json.dumps(run, indent=2) + "\n")
    (directory / "latest.md").write_text(markdown(run))
    chart(run, directory / "latest.png")
