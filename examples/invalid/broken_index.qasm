// Deliberately broken: indexes a qubit the register does not have.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[2];
measure q -> c;
