// Package labcheck holds tests that prove the kernel lab works: iproute2's tc
// drives the qostestnic test NIC inside the lab VM and the module's debugfs
// state (package qtnstate) shows what it accepted or refused. Outside the
// VM the tests skip; with QOSPLANE_KERNEL_LAB=1 a missing lab is a failure.
//
// Run: bash e2e/kernellab/run.sh ./e2e/kernellab/labcheck
package labcheck
