"""``qorch compile`` (FR-004): JSON Lines plans, --repeat, infeasible inputs exit 2."""

from __future__ import annotations

import json

from qorch.cli.main import main
from tests.conftest import REPO

EX = REPO / "examples"
TWO = str(EX / "topologies" / "two-nodes.toml")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_plans_have_the_documented_fields(capsys):
    code, out, _ = run(
        capsys,
        "compile",
        "--json",
        "--topology",
        str(EX / "topologies" / "small-world-10.toml"),
        "--seed",
        "4",
        "--strategy",
        "teleport",
        str(EX / "circuits" / "qft4.qasm"),
        str(EX / "circuits" / "ghz5.qasm"),
    )
    assert code == 0
    plans = [json.loads(line) for line in out.splitlines()]
    assert [p["file"].rsplit("/", 1)[1] for p in plans] == ["qft4.qasm", "ghz5.qasm"]
    for p in plans:
        assert {
            "fragments",
            "ebits",
            "estimated_fidelity",
            "cost",
            "plan_digest",
            "compile_ms",
        } <= set(p)
        assert {"total", "latency_ms", "fidelity_risk", "ebits"} <= set(p["cost"])
        assert p["strategy"] == "teleport" and p["seed"] == 4
        for f in p["fragments"]:
            assert {"id", "node", "num_ops", "qubits", "depends_on"} <= set(f)
        assert len(p["plan_digest"]) == 64 and isinstance(p["compile_ms"], float)


def test_repeat_reports_percentiles_and_identical_digests(capsys):
    code, out, _ = run(
        capsys,
        "compile",
        "--json",
        "--repeat",
        "5",
        "--topology",
        TWO,
        str(EX / "circuits" / "qft4.qasm"),
        "--full",
    )
    plan = json.loads(out)
    assert code == 0 and plan["compile_ms"]["n"] == 5
    assert plan["compile_ms"]["p95"] >= plan["compile_ms"]["p50"] > 0
    assert plan["plan"]["fragments"][0]["ops"][0]["name"]


def test_the_same_seed_gives_the_same_digest_across_runs(capsys):
    digests = set()
    for _ in range(2):
        _, out, _ = run(
            capsys,
            "compile",
            "--json",
            "--seed",
            "7",
            "--topology",
            str(EX / "topologies" / "four-heterogeneous.toml"),
            str(EX / "circuits" / "teleport.qasm"),
        )
        digests.add(json.loads(out)["plan_digest"])
    assert len(digests) == 1


def test_infeasible_input_exits_2_with_the_error(capsys):
    code, out, _ = run(
        capsys,
        "compile",
        "--json",
        "--min-fidelity",
        "0.999",
        "--topology",
        TWO,
        str(EX / "circuits" / "bell.qasm"),
    )
    assert code == 2
    err = json.loads(out)["error"]
    assert err["kind"] == "infeasible" and "'cx'" in err["message"]
    code, out, _ = run(
        capsys, "compile", "--topology", TWO, str(EX / "invalid" / "broken_index.qasm")
    )
    assert code == 2 and "semantic" in out


def test_bad_topology_or_strategy_fails_before_compiling(capsys, tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text("[[nodes]]\nname = 'a'\nqubits = 0\ngates = {x = 1}\n")
    code, _, err = run(
        capsys, "compile", "--topology", str(bad), str(EX / "circuits" / "bell.qasm")
    )
    assert code == 2 and "nodes[0].qubits = 0" in err
    code, _, err = run(
        capsys,
        "compile",
        "--strategy",
        "magic",
        "--topology",
        TWO,
        str(EX / "circuits" / "bell.qasm"),
    )
    assert code == 2 and "no placement named 'magic'" in err and "partition" in err


def test_table_output(capsys):
    code, out, _ = run(capsys, "compile", "--topology", TWO, str(EX / "circuits" / "bell.qasm"))
    assert code == 0 and "bell.qasm" in out and "partition" in out
