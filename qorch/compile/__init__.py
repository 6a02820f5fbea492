"""The distributed compiler (FR-004): Circuit + topology snapshot + config + seed → Plan.

Stages, one module each: :mod:`prepare` (gates of 3+ qubits and gates that no share can
carry are decomposed), :mod:`network` (usable nodes, hop distances, link paths),
:mod:`problem` (what a placement strategy sees), :mod:`distribute` (a placement → the
cheapest set of cat-entanglement shares and teleports, exactly), :mod:`fragments`
(the fragment DAG), :mod:`estimate` (native gates, fidelity, durations), :mod:`plan`
(the Plan and its canonical JSON) and :mod:`compiler` (the whole pipeline).
"""
