"""The plan checker itself (FR-004): it must catch what the contract tests rely on it for."""

from __future__ import annotations

from qorch.plan import PLAN_VERSION, Fragment, Plan, PlanOp
from qorch.testing.plan_checks import plan_problems
from qorch.topology import topology_from_dict

TWO = topology_from_dict(
    {
        "nodes": [
            {"name": n, "qubits": 1, "gates": {"h": 0.999, "x": 0.999, "cx": 0.99}}
            for n in ("n0", "n1")
        ],
        "network": {"all_to_all": True, "link_fidelity": 0.97},
    }
)


def plan(placement, fragments, ebits=0):
    return Plan(
        PLAN_VERSION, "c", "s", 0, "hand", "weighted", 0.0, len(placement), 1,
        sum(len(f.ops) for f in fragments), tuple(placement), tuple(fragments), ebits, 0,
        0.9, 1.0, {"total": 1.0},
    )  # fmt: skip


def local(fid, node, ops, deps=()):
    return Fragment(fid, "local", (node,), (), tuple(ops), tuple(deps), 0, (), 0.0, 1.0)


def remote(fid, kind, qubit, deps=(), serves=()):
    ebits = 1 if kind == "entangle" else 0
    return Fragment(
        fid, kind, ("n0", "n1"), (qubit,), (), tuple(deps), ebits, ("n0", "n1"), 0.0, 1.0, serves
    )


def shared_then_h(h_deps):
    # q0 lives on n0 and is shared with n1 for a cx; then h acts on q0 at home
    return plan(
        ["n0", "n1"],
        [
            remote("f0", "entangle", 0, serves=("f1",)),
            local("f1", "n1", [PlanOp(0, "cx", (0, 1))], ["f0"]),
            local("f2", "n0", [PlanOp(1, "h", (0,))], h_deps),
            remote("f3", "disentangle", 0, ["f1", "f2"] if h_deps == ["f0"] else ["f1"]),
        ],
        ebits=1,
    )


def test_a_non_diagonal_op_at_home_while_its_qubit_is_shared_is_caught():
    problems = plan_problems(shared_then_h(["f0"]), TWO)
    assert any("non-diagonally on qubit 0 while it is shared with n1" in p for p in problems)


def test_the_same_op_after_the_share_ends_is_sound():
    sound = plan(
        ["n0", "n1"],
        [
            remote("f0", "entangle", 0, serves=("f1",)),
            local("f1", "n1", [PlanOp(0, "cx", (0, 1))], ["f0"]),
            remote("f2", "disentangle", 0, ["f1"]),
            local("f3", "n0", [PlanOp(1, "h", (0,))], ["f2"]),
        ],
        ebits=1,
    )
    assert plan_problems(sound, TWO) == []


def clbit_reuse(write_deps):
    # measure q0 -> c0; x on q1 if c0; measure q0 -> c0 again
    return plan(
        ["n0", "n1"],
        [
            local("f0", "n0", [PlanOp(0, "measure", (0,), (0,))]),
            local("f1", "n1", [PlanOp(1, "x", (1,), (), (), {"clbits": [0], "value": 1})], ["f0"]),
            local("f2", "n0", [PlanOp(2, "measure", (0,), (0,))], write_deps),
        ],
    )


def test_a_write_that_does_not_wait_for_an_earlier_read_is_caught():
    problems = plan_problems(clbit_reuse(["f0"]), TWO)
    assert problems == ["f2 does not depend on f1 (clbit 0 is read there before this write)"]
    assert plan_problems(clbit_reuse(["f0", "f1"]), TWO) == []
