// Package fallback is qosplane's software pacer: the Pacer.sys of the
// project, used where a target has no hardware that can carry a class. It
// classifies frames by the plan's rules (those placed on offload.Pacer),
// meters them with token buckets, marks them (DSCP, 802.1p) and releases
// them under a port rate by strict priority and deficit round robin.
//
// # Units
//
// Rates are bit/s (model.Rate), sizes bytes, times nanoseconds on the
// monotonic clock Now. Rates are accounted on WireLen: the L2 frame without
// FCS, and for a GSO frame the sum of its segments. Meters keep credit in
// integer units of 1/8e9 byte, so a bucket filling at R bit/s gains exactly
// R units per ns: no floats, no rounding, no overflow up to 10 Tbit/s and
// 1 GiB buckets, at any uptime (time differences are capped at the fill
// time of the bucket before they are multiplied; one packet costs at most
// 256 MiB and a bucket owes at most 128 KiB).
//
// # Treatment
//
// Per ClassPlan.NonConforming:
//   - shape: packets queue and leave when the class meter (committed
//     bucket, and a peak bucket one MaxSDU deep) has credit for them.
//   - borrow: packets that conform at arrival take credit and queue at the
//     class's priority; the others are remarked with MarkNonConforming and
//     queue in the borrow tier, served after all conforming traffic.
//   - discard: packets that do not conform at arrival are dropped.
//
// Packets (or GSO segments) larger than MaxSDU never conform; smaller than
// MinPoliced count as MinPoliced. The token rate is EffectiveRate when set
// (the protocol-overhead correction), else Rate. A GSO frame larger than
// the bucket may leave when the bucket is full and leaves a debt.
//
// Each queue is bounded to MaxDelay at the class rate (the port rate for
// the borrow tier and classes without a rate), at least two MaxSDU; a
// packet arriving at an empty queue is always accepted. Above the bound
// frames are tail-dropped, except ECN-capable ones (ECT(0)/ECT(1)), which
// are CE-marked and accepted up to twice the bound. ECN-capable packets are
// also CE-marked whenever the queue is above half the bound.
//
// A rule's Police action is its own meter (shared by every rule naming the
// same Shared meter): above it packets are dropped, or, when the action's
// Exceed does not drop, remarked to Exceed.DSCP/PCP and demoted to the
// borrow tier.
//
// # Classification
//
// Rules are tried in ascending Precedence; the first match wins. A flow
// cache keyed by addresses, ports, protocol, VLAN, DSCP and ingress ifindex
// remembers the verdict, so a connection is matched once; entries expire
// after Config.FlowIdle. A new flow (a cache miss) is matched by
// tuple-space search: one hash table per rule shape (which fields and
// prefix lengths a rule pins), so its cost grows with the number of
// shapes, not of rules. New flows cannot push established flows of a
// class whose service type bounds delay (model.ServiceType.BoundsDelay)
// out of the cache, and best-effort ones no flow of such a class at all:
// a new flow whose cache set holds nothing it may evict is classified per
// packet instead (Stats.FlowCacheBypass). Frames no rule matches
// (including non-IP frames) go to the lowest-priority class, or with
// Config.PassUnmatched unshaped and unmarked at priority 0 (the plan has
// no field for this choice). Ports of IP fragments are not read, so port
// rules do not match fragments.
//
// # Marking
//
// Conforming packets get ClassPlan.Mark, overridden by a rule's SetDSCP and
// SetPCP actions; non-conforming ones MarkNonConforming. DSCP rewrites keep
// the ECN bits and fix the IPv4 header checksum incrementally (RFC 1624).
// PCP rewrites the outermost 802.1Q tag, or inserts a priority tag (VLAN 0)
// in the headroom of an untagged frame when the PCP is not 0, adjusting the
// virtio_net_hdr offsets of a GSO frame.
//
// # Scheduling
//
// Strict priority between ClassPlan.Priority levels (higher first), then
// the borrow tier. Within a level, deficit round robin between classes
// with quantum Weight*1514 bytes; within a class, deficit round robin
// between 1024 per-flow sub-queues chosen by a seeded 5-tuple hash (a flow
// that becomes active starts with one quantum, as in fq_codel). One packet
// charges a DRR balance at most 256 KiB. Shaped
// classes whose head cannot leave wait in a timer heap; Dequeue releases
// everything due at once and reports when more can leave, so the caller
// sleeps once per batch, never per packet. The port bucket holds 2 ms at
// the port rate so that a caller whose timer overshoots catches up.
//
// # Concurrency
//
// Get, Put, Enqueue and Dequeue must be called from one goroutine (the
// datapath's shaping loop); they take no locks and do not allocate once
// the pool is warm. Counters and Stats may be called from any goroutine;
// they read atomics published by the shaping goroutine whenever a Dequeue
// call drains what may leave, and at least every millisecond under load.
package fallback
