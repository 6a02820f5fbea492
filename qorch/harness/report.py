"""The experiment report (FR-013, NFR-005): ``summary.csv``, ``report.md`` and PNG plots.

From the raw ``results.jsonl`` rows of a suite: per (mode, scenario) — a mode is an arm
of orchestration x transport (issue 17) — the runs, success rate, end-to-end latency and
orchestration overhead (median, p95), mean achieved fidelity, mean ebits, retries and
fallbacks, the control plane's messages (coordinator and node-to-node, median per job),
critical-path hops and ready-to-start wait, and how honest the estimator was (mean
|estimated − achieved fidelity|, target <= 0.03); plots of the latency distribution
per mode and scenario, the success rate per scenario, estimated vs achieved fidelity and
ebits per strategy (matplotlib, no display needed); and what produced it — suite, seed,
configuration, package versions, commit, machine.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

from qorch.harness.suite import Suite
from qorch.stats import percentile

ESTIMATOR_TARGET = 0.03
COLUMNS = (
    "mode", "scenario", "runs", "succeeded", "success_rate", "latency_median_ms",
    "latency_p95_ms", "overhead_median_ms", "overhead_p95_ms", "compile_median_ms",
    "mean_ebits", "retries", "fallbacks", "mean_abs_fidelity_error", "mean_achieved_fidelity",
    "coordinator_messages_median", "peer_messages_median", "critical_path_hops_median",
    "ready_to_start_median_ms",
)  # fmt: skip


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per (mode, scenario), in first-seen order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["mode"], row["scenario"])].append(row)
    out = []
    for (mode, scenario), group in groups.items():
        ok = [r for r in group if r["success"]]
        errors = [
            abs(r["estimated_fidelity"] - r["achieved_fidelity"])
            for r in ok
            if r.get("achieved_fidelity") is not None
        ]
        out.append(
            {
                "mode": mode,
                "scenario": scenario,
                "runs": len(group),
                "succeeded": len(ok),
                "success_rate": len(ok) / len(group),
                "latency_median_ms": _stat(ok, "latency_ms", 50),
                "latency_p95_ms": _stat(ok, "latency_ms", 95),
                "overhead_median_ms": _stat(ok, "orchestration_overhead_ms", 50),
                "overhead_p95_ms": _stat(ok, "orchestration_overhead_ms", 95),
                "compile_median_ms": _stat(ok, "compile_ms", 50),
                "mean_ebits": statistics.fmean(r["ebits"] for r in ok) if ok else None,
                "retries": sum(r["retries"] for r in ok),
                "fallbacks": sum(r["fallbacks"] for r in ok),
                "mean_abs_fidelity_error": statistics.fmean(errors) if errors else None,
                "mean_achieved_fidelity": _mean(ok, "achieved_fidelity"),
                "coordinator_messages_median": _stat(ok, "coordinator_messages", 50),
                "peer_messages_median": _stat(ok, "peer_messages", 50),
                "critical_path_hops_median": _stat(ok, "critical_path_hops", 50),
                "ready_to_start_median_ms": _stat(ok, "ready_to_start_ms", 50),
            }
        )
    return out


def _stat(rows: list[dict[str, Any]], key: str, q: float) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return percentile(values, q) if values else None


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def write_report(
    suite: Suite, rows: list[dict[str, Any]], environment: dict[str, Any], out_dir: Path
) -> Path:
    """Write ``summary.csv``, the plots and ``report.md``; return the report's path."""
    summary = summarize(rows)
    with (out_dir / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(summary)
    plots = _plots(rows, out_dir)
    path = out_dir / "report.md"
    path.write_text(_markdown(suite, rows, summary, environment, plots))
    return path


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _markdown(
    suite: Suite,
    rows: list[dict[str, Any]],
    summary: list[dict[str, Any]],
    env: dict[str, Any],
    plots: list[str],
) -> str:
    ok = [r for r in rows if r["success"] and r.get("achieved_fidelity") is not None]
    errors = [abs(r["estimated_fidelity"] - r["achieved_fidelity"]) for r in ok]
    honesty = statistics.fmean(errors) if errors else None
    lines = [
        f"# {suite.name}: orchestration x transport under faults",
        "",
        "A mode is an arm of the 2 x 2 design (issue 17): an orchestration — `distributed` "
        "(the nodes choreograph each plan: completion notices and ebit handshakes node to "
        "node, one hand-out and one record batch per node) or `centralized` (a hub with a "
        "static inventory dispatches every fragment and hears back from every node) — over "
        "a transport, `libp2p` (Noise, yamux) or `tcp` (plain). Same circuits, seeds, node "
        "types and fault schedules in every arm.",
        "",
        f"{len(rows)} runs of {suite.cells} cells; seed {suite.seed}; {suite.shots} shots; "
        f"commit `{env['commit']}`; {env['machine']['cpus']} CPUs "
        f"({env['machine']['cpu_model'] or env['machine']['platform']}).",
        "",
        "| mode | scenario | runs | success | latency median / p95 (ms) | overhead median / "
        "p95 (ms) | compile median (ms) | ebits | retries | fallbacks | mean abs. fidelity "
        "error |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['mode']} | {s['scenario']} | {s['runs']} | {s['success_rate']:.0%} | "
            f"{_fmt(s['latency_median_ms'])} / {_fmt(s['latency_p95_ms'])} | "
            f"{_fmt(s['overhead_median_ms'])} / {_fmt(s['overhead_p95_ms'])} | "
            f"{_fmt(s['compile_median_ms'])} | {_fmt(s['mean_ebits'], 2)} | {s['retries']} | "
            f"{s['fallbacks']} | {_fmt(s['mean_abs_fidelity_error'], 4)} |"
        )
    lines += [
        "",
        "Control plane per job (medians over successful runs; messages are qorch requests "
        "and replies, reservations included):",
        "",
        "| mode | scenario | achieved fidelity (mean) | coordinator messages | peer "
        "messages | critical-path hops | ready-to-start (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['mode']} | {s['scenario']} | {_fmt(s['mean_achieved_fidelity'], 4)} | "
            f"{_fmt(s['coordinator_messages_median'], 0)} | "
            f"{_fmt(s['peer_messages_median'], 0)} | "
            f"{_fmt(s['critical_path_hops_median'], 0)} | "
            f"{_fmt(s['ready_to_start_median_ms'], 2)} |"
        )
    verdict = (
        "no successful simulated run"
        if honesty is None
        else f"{honesty:.4f} over {len(errors)} runs (target <= {ESTIMATOR_TARGET}: "
        + (
            "met"
            if honesty <= ESTIMATOR_TARGET
            else "**not met** — the cost model's estimate needs work"
        )
        + ")"
    )
    failures = [r for r in rows if not r["success"]]
    lines += ["", f"Estimator honesty, mean |estimated − achieved fidelity|: {verdict}.", ""]
    if failures:
        lines += ["Failed runs:", ""]
        lines += [f"- `{r['cell']}`: {r['failure']}: {r['failure_message']}" for r in failures]
        lines.append("")
    lines += [f"![{p}]({p})" for p in plots]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines += [
        "",
        "## How it was produced",
        "",
        f"- suite `{env['suite_file']}`, seed {env['seed']}; raw rows in `results.jsonl`, "
        "summary in `summary.csv`, configuration in `environment.json`",
        f"- {versions}",
        "- same suite and seed: the same fault schedules (`schedule_digest`) and plans "
        "(`plan_digest`); only timings differ between reruns",
        "",
    ]
    return "\n".join(lines)


def _plots(rows: list[dict[str, Any]], out_dir: Path) -> list[str]:

    matplotlib.use("Agg")

    ok = [r for r in rows if r["success"]]
    names = []
    # latency distribution per mode and scenario
    groups: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        groups[f"{r['mode']}\n{r['scenario']}"].append(r["latency_ms"])
    fig, ax = plt.subplots(figsize=(8, 4))
    if groups:
        ax.boxplot(list(groups.values()), tick_labels=list(groups))
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_title("Latency per mode and scenario")
    names.append(_save(fig, out_dir, "latency.png"))
    # success rate per scenario, one bar per mode
    modes = sorted({r["mode"] for r in rows})
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        rates = []
        for sc in scenarios:
            cell = [r for r in rows if r["mode"] == mode and r["scenario"] == sc]
            rates.append(sum(r["success"] for r in cell) / len(cell) if cell else 0.0)
        ax.bar([j + i * width for j in range(len(scenarios))], rates, width, label=mode)
    ax.set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(scenarios))], scenarios)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.legend()
    names.append(_save(fig, out_dir, "success.png"))
    # estimated vs achieved fidelity
    fig, ax = plt.subplots(figsize=(5, 5))
    for mode in modes:
        pts = [r for r in ok if r["mode"] == mode and r.get("achieved_fidelity") is not None]
        ax.scatter(
            [r["estimated_fidelity"] for r in pts], [r["achieved_fidelity"] for r in pts],
            label=mode, s=14,
        )  # fmt: skip
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set_xlabel("estimated fidelity")
    ax.set_ylabel("achieved fidelity (Hellinger)")
    ax.legend()
    names.append(_save(fig, out_dir, "fidelity.png"))
    # ebits per strategy
    strategies: dict[str, list[int]] = defaultdict(list)
    for r in ok:
        strategies[r["strategy"]].append(r["ebits"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(list(strategies), [statistics.fmean(v) for v in strategies.values()])
    ax.set_ylabel("mean ebits per circuit")
    ax.set_title("Entanglement per placement strategy")
    names.append(_save(fig, out_dir, "ebits.png"))
    return names


def _save(fig: Any, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=100)

    plt.close(fig)
    return name
