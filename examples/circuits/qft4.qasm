// Four-qubit quantum Fourier transform on |0101>, with a custom controlled-phase gate.
OPENQASM 2.0;
include "qelib1.inc";
gate cphase(theta) a, b { u1(theta/2) a; cx a, b; u1(-theta/2) b; cx a, b; u1(theta/2) b; }
qreg q[4];
creg c[4];
x q[0];
x q[2];
h q[3];
cphase(pi/2) q[2], q[3];
cphase(pi/4) q[1], q[3];
cphase(pi/8) q[0], q[3];
h q[2];
cphase(pi/2) q[1], q[2];
cphase(pi/4) q[0], q[2];
h q[1];
cphase(pi/2) q[0], q[1];
h q[0];
swap q[0], q[3];
swap q[1], q[2];
measure q -> c;
