// Package verify checks on the veth lab that a policy does what it says
// (qosplane verify). For each verified target it scales the policy to the
// lab's port rate, compiles it to a pacer plan, derives from the policy one
// packet per flow that the flow matches and no earlier (more specific) flow
// does, offers each class above its rate through the software pacer,
// measures per class and flow at the receiver (rate per 1 s window, loss,
// DSCP and PCP, delay of delay-bound classes), and judges expectations
// derived from the plan and, optionally, from an expectations file.
//
// The flow of data: model.Policy -> Scale -> offload.TargetPlan -> Derive
// (Traffic) -> Expectations -> Run (Measurement) -> Judge (Verdicts) ->
// table, JUnit XML and HTML report.
//
// Units: rates in bit/s counted on L2 frames (no FCS), sizes in bytes,
// delays in ns. Every rate the lab runs at is the policy's rate times the
// target's Scale (Setup.Scale), so that a 100 Gbit/s NIC's policy fits the
// lab's LabPort; expectations and reports speak of lab rates and say the
// scale.
package verify
