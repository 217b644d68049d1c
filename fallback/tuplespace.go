package fallback

import (
	"math"
	"math/bits"

	"github.com/qosplane/qosplane/model"
)

// Tuple-space search classifies a new flow in time that grows with the
// number of distinct rule shapes, not the number of rules.
//
// A rule's shape is which header bits it pins: its source and destination
// prefix lengths, whether it pins the family, protocol, VLAN id, DSCP and
// ingress ifindex, and for each port whether it is absent, one port, or a
// range. Rules of one shape live in one hash table keyed by the pinned
// bits; a packet is looked up in a table by masking its key with the
// shape's mask. Port ranges are not maskable: a range pins nothing in the
// hash key, and every rule of the bucket is a candidate whose ranges are
// checked after the lookup, in rule order.
//
// The answer is the one the linear scan (Pacer.classifyScan) gives: the
// matching rule of lowest index in Pacer.rules, which is plan precedence
// order. Each table remembers its lowest rule index (best), tables are
// probed in ascending best, and the search stops at the first table whose
// best cannot beat the match found so far.
//
// Cost per new flow: for each table visited (at most one per shape) a
// check of the bits all the table's keys share (no memory access), then
// one masked hash probe; in a table with port ranges, also the bucket's
// candidates (rules equal in every hashed field, differing in ranges) up
// to the first whose ranges hold the frame's ports. A policy of many
// rules that differ only in port ranges therefore costs a scan of those.

// tssWords is the size of a classification key in 64-bit words.
const tssWords = 7

// tssKey packs the header fields rules match on:
//
//	[0], [1]  source address, high and low halves of the 16-byte form
//	          (IPv4-mapped for IPv4), as parsed.srcHi/srcLo
//	[2], [3]  destination address, likewise
//	[4]       source port | destination port<<16 (0 when the frame has
//	          no ports)
//	[5]       protocol | family<<8 | DSCP<<16 | VLAN id<<24 (DSCP
//	          tssNoDSCP for a non-IP frame; VLAN id 0 when untagged)
//	[6]       ingress ifindex, all 64 bits of the int
//
// A rule's key holds its pinned values at the same places, and 0 in the
// bits its mask leaves out.
type tssKey [tssWords]uint64

// tssNoDSCP is the DSCP field of a non-IP frame's key: no rule's DSCP
// equals it (rules of DSCP above 63 can never match and are in no table),
// as the scan's rule.matches refuses a DSCP rule for a frame without an
// IP header.
const tssNoDSCP = 64

// Bit positions in key word 5.
const (
	tssFamilyShift = 8
	tssDSCPShift   = 16
	tssVLANShift   = 24
)

// set fills k from a parsed frame that arrived on ifindex.
func (k *tssKey) set(pr *parsed, ifindex int) {
	dscp := uint64(tssNoDSCP)
	if pr.l3 >= 0 {
		dscp = uint64(pr.tos >> 2)
	}
	k[0], k[1], k[2], k[3] = pr.srcHi, pr.srcLo, pr.dstHi, pr.dstLo
	k[4] = uint64(pr.ports)
	k[5] = uint64(pr.proto) | uint64(pr.family)<<tssFamilyShift | dscp<<tssDSCPShift | uint64(pr.vlan)<<tssVLANShift
	k[6] = uint64(ifindex)
}

// hash mixes the key with a per-pacer seed: the seven words fold into two
// (rotated so that equal fields in different words do not cancel) and one
// seeded 64x64->128-bit multiplication mixes those, as flowKey.hash does.
// Keys are compared in full after the hash, so a collision costs a probe,
// never a wrong answer.
func (k *tssKey) hash(seed uint64) uint64 {
	a := k[0] ^ bits.RotateLeft64(k[2], 21) ^ bits.RotateLeft64(k[4], 42) ^ bits.RotateLeft64(k[6], 11)
	b := k[1] ^ bits.RotateLeft64(k[3], 21) ^ bits.RotateLeft64(k[5], 42)
	return mum(a^seed, b^0x9e3779b97f4a7c15)
}

// equal compares word by word, inlined (an array comparison calls
// memequal).
func (k *tssKey) equal(o *tssKey) bool {
	return k[0] == o[0] && k[1] == o[1] && k[2] == o[2] && k[3] == o[3] && k[4] == o[4] && k[5] == o[5] && k[6] == o[6]
}

// tssNone is "no rule" in rule index comparisons: above every index.
const tssNone = math.MaxInt32

// tssCand is one rule of a bucket of a table whose shape has a port range:
// its index and the ranges (inclusive) verified after the hash lookup. A
// port without a range in the shape has the full range 0-65535 here.
type tssCand struct {
	rule     int32
	sLo, sHi uint16
	dLo, dHi uint16
}

// tssEntry is one distinct key of a table (64 bytes). In a table without
// ranges ref is the first rule (lowest index) with that key: later ones
// with the same key can never be the first match. In a table with ranges,
// ref is the offset of the key's candidates in tssTable.cands and n their
// count.
type tssEntry struct {
	key tssKey
	ref int32
	n   int32
}

// tssTable is the hash table of one shape. Invariants:
//   - slots has a power-of-two length at least twice len(ents), so that
//     at least half the slots are empty and every probe sequence ends;
//     a slot is 0 when empty, else hash&^0xFFFFFFFF | (entry index+1),
//     where the entry's key hashes to hash.
//   - every entry's key is masked by mask, and the entries' keys are
//     distinct.
//   - best is the lowest rule index in the table.
//   - the candidates of one entry are contiguous in cands, in ascending
//     rule index (the scan's order).
type tssTable struct {
	mask tssKey
	// common and commonVal are the bits every key of the table has in
	// common (common is within mask): a frame whose masked key differs
	// there matches nothing in the table, and is refused without a
	// memory access (a table of tcp/443 rules refuses UDP frames, one of
	// IPv4 prefixes IPv6 frames).
	common, commonVal tssKey
	best              int32
	ports             bool // its rules pin a port: a frame without ports never matches
	ranged            bool // its rules carry a port range, verified per candidate
	slots             []uint64
	ents              []tssEntry
	cands             []tssCand
}

// tupleSpace is the tuple-space classifier of a pacer's rules. It is
// built once (newTupleSpace) and read-only afterwards: classify allocates
// nothing and keeps no state between calls. Invariant: tables are in
// ascending best, and every rule that can match some frame is in exactly
// one table (rules that can never match, such as those whose interface
// did not resolve, are in none).
type tupleSpace struct {
	tables []tssTable
	seed   uint64
}

// tssShape identifies a table while building: the key mask and which
// ports are ranges.
type tssShape struct {
	mask           tssKey
	sRange, dRange bool
}

// ruleKey returns a rule's shape and key, and ok false when the rule can
// never match (so it need not be in any table).
func ruleKey(r *rule) (sh tssShape, key tssKey, ok bool) {
	if r.ifNever || r.dscp > 63 || portsEmpty(r.sport) || portsEmpty(r.dport) {
		return sh, key, false
	}
	m, k := &sh.mask, &key
	if r.src.set {
		m[0], m[1], k[0], k[1] = r.src.mhi, r.src.mlo, r.src.hi, r.src.lo
	}
	if r.dst.set {
		m[2], m[3], k[2], k[3] = r.dst.mhi, r.dst.mlo, r.dst.hi, r.dst.lo
	}
	switch {
	case r.sport.IsZero():
	case r.sport.Exact():
		m[4] |= 0xFFFF
		k[4] |= uint64(r.sport.Lo)
	default:
		sh.sRange = true
	}
	switch {
	case r.dport.IsZero():
	case r.dport.Exact():
		m[4] |= 0xFFFF << 16
		k[4] |= uint64(r.dport.Lo) << 16
	default:
		sh.dRange = true
	}
	if r.proto != 0 {
		m[5] |= 0xFF
		k[5] |= uint64(r.proto)
	}
	if r.family != 0 {
		m[5] |= 0xFF << tssFamilyShift
		k[5] |= uint64(r.family) << tssFamilyShift
	}
	if r.dscp >= 0 {
		m[5] |= 0xFF << tssDSCPShift
		k[5] |= uint64(r.dscp) << tssDSCPShift
	}
	if r.vlan != 0 {
		m[5] |= 0xFFFF << tssVLANShift
		k[5] |= uint64(r.vlan) << tssVLANShift
	}
	if r.ifindex != 0 {
		m[6] = math.MaxUint64
		k[6] = uint64(r.ifindex)
	}
	return sh, key, true
}

// portsEmpty reports whether a port range matches no port (Lo > Hi; the
// model refuses such ranges, but the pacer must agree with the scan on
// any plan).
func portsEmpty(r model.PortRange) bool { return r.Lo > r.Hi }

// newTupleSpace builds the classifier of rules (in precedence order: index
// 0 first). seed keys its hashes. Its time and memory are linear in
// len(rules) (at 100,000 rules, a few tens of ms and about 10 MB kept):
// the tables are sized from a first pass that counts each shape's rules,
// then filled in place, without maps of keys.
func newTupleSpace(rules []rule, seed uint64) tupleSpace {
	// Pass 1: the shapes, in order of their first (lowest-index) rule,
	// which is ascending best, and how many rules each has.
	shapeOf := make([]int32, len(rules)) // table of rule i, -1 none
	byShape := make(map[tssShape]int32)
	var count []int
	ts := tupleSpace{seed: seed}
	for i := range rules {
		sh, _, ok := ruleKey(&rules[i])
		if !ok {
			shapeOf[i] = -1
			continue
		}
		ti, seen := byShape[sh]
		if !seen {
			ti = int32(len(ts.tables))
			byShape[sh] = ti
			ranged := sh.sRange || sh.dRange
			ts.tables = append(ts.tables, tssTable{mask: sh.mask, best: int32(i), ranged: ranged, ports: ranged || sh.mask[4] != 0})
			count = append(count, 0)
		}
		shapeOf[i] = ti
		count[ti]++
	}
	for ti := range ts.tables {
		size := 2
		for size < 2*count[ti] {
			size <<= 1
		}
		ts.tables[ti].slots = make([]uint64, size)
		ts.tables[ti].ents = make([]tssEntry, 0, count[ti])
	}
	// Pass 2: each rule into its table, in index order. In a ranged table
	// an entry's candidates are chained (head, tail, next: indexes into
	// cands) until pass 3 lays each chain out contiguously; in the others
	// a repeated key is shadowed by the entry's first rule and dropped.
	type chain struct{ head, tail int32 }
	chains := make([][]chain, len(ts.tables))
	cands := make([][]tssCand, len(ts.tables))
	next := make([][]int32, len(ts.tables))
	for i := range rules {
		ti := shapeOf[i]
		if ti < 0 {
			continue
		}
		r, t := &rules[i], &ts.tables[ti]
		sh, key, _ := ruleKey(r)
		e, found := t.find(&key, seed)
		if !found {
			t.ents = append(t.ents, tssEntry{key: key, ref: int32(i)})
			t.slots[e] = key.hash(seed)&^0xFFFF_FFFF | uint64(len(t.ents))
			e = len(t.ents) - 1
			if t.ranged {
				chains[ti] = append(chains[ti], chain{-1, -1})
			}
		}
		if !t.ranged {
			continue
		}
		c := tssCand{rule: int32(i), sLo: 0, sHi: math.MaxUint16, dLo: 0, dHi: math.MaxUint16}
		if sh.sRange {
			c.sLo, c.sHi = r.sport.Lo, r.sport.Hi
		}
		if sh.dRange {
			c.dLo, c.dHi = r.dport.Lo, r.dport.Hi
		}
		ci := int32(len(cands[ti]))
		cands[ti] = append(cands[ti], c)
		next[ti] = append(next[ti], -1)
		if ch := &chains[ti][e]; ch.head < 0 {
			ch.head, ch.tail = ci, ci
		} else {
			next[ti][ch.tail], ch.tail = ci, ci
		}
	}
	// Pass 3: contiguous candidates, and the bits each table's keys share.
	for ti := range ts.tables {
		t := &ts.tables[ti]
		if t.ranged {
			t.cands = make([]tssCand, 0, len(cands[ti]))
			for e, ch := range chains[ti] {
				t.ents[e].ref = int32(len(t.cands))
				for ci := ch.head; ci >= 0; ci = next[ti][ci] {
					t.cands = append(t.cands, cands[ti][ci])
				}
				t.ents[e].n = int32(len(t.cands)) - t.ents[e].ref
			}
		}
		t.common = t.mask
		for e := range t.ents {
			for w := range t.common {
				t.common[w] &^= t.ents[e].key[w] ^ t.ents[0].key[w]
			}
		}
		for w := range t.common {
			t.commonVal[w] = t.ents[0].key[w] & t.common[w]
		}
	}
	return ts
}

// find probes t for key (hash seeded by seed): the index of its entry and
// true, or the index of the empty slot where it belongs and false. The
// table must have an empty slot (its invariant).
func (t *tssTable) find(key *tssKey, seed uint64) (int, bool) {
	h := key.hash(seed)
	smask := uint64(len(t.slots) - 1)
	for i := h & smask; ; i = (i + 1) & smask {
		s := t.slots[i]
		if s == 0 {
			return int(i), false
		}
		if s&^0xFFFF_FFFF == h&^0xFFFF_FFFF && t.ents[uint32(s)-1].key.equal(key) {
			return int(uint32(s) - 1), true
		}
	}
}

// classify returns the index of the first rule (lowest index) matching the
// frame, or -1: the same answer as the linear scan. It allocates nothing.
func (ts *tupleSpace) classify(pr *parsed, ifindex int) int {
	var k tssKey
	k.set(pr, ifindex)
	best := int32(tssNone)
	for i := range ts.tables {
		t := &ts.tables[i]
		if t.best >= best {
			break // tables are in ascending best: none left can win
		}
		if t.ports && !pr.hasPort || !t.admits(&k) {
			continue
		}
		if r := t.lookup(&k, pr, best, ts.seed); r < best {
			best = r
		}
	}
	if best == tssNone {
		return -1
	}
	return int(best)
}

// admits reports whether a frame of key k can match a rule of t by the
// bits all of t's keys share.
func (t *tssTable) admits(k *tssKey) bool {
	c, v := &t.common, &t.commonVal
	return (k[0]&c[0]^v[0])|(k[1]&c[1]^v[1])|(k[2]&c[2]^v[2])|(k[3]&c[3]^v[3])|
		(k[4]&c[4]^v[4])|(k[5]&c[5]^v[5])|(k[6]&c[6]^v[6]) == 0
}

// lookup returns the lowest rule index below limit of table t matching
// the frame (key k, parsed pr), or tssNone. It probes as find does, with
// the loop written out: a call per table costs a few ns per new flow.
func (t *tssTable) lookup(k *tssKey, pr *parsed, limit int32, seed uint64) int32 {
	var mk tssKey
	for i := range mk {
		mk[i] = k[i] & t.mask[i]
	}
	h := mk.hash(seed)
	smask := uint64(len(t.slots) - 1)
	tag := h &^ 0xFFFF_FFFF
	for i := h & smask; ; i = (i + 1) & smask {
		s := t.slots[i]
		if s == 0 {
			return tssNone
		}
		if s&^0xFFFF_FFFF != tag {
			continue
		}
		e := &t.ents[uint32(s)-1]
		if !e.key.equal(&mk) {
			continue
		}
		if !t.ranged {
			return e.ref
		}
		for _, c := range t.cands[e.ref : e.ref+e.n] {
			if c.rule >= limit {
				break // candidates ascend: none left can win
			}
			if pr.sport >= c.sLo && pr.sport <= c.sHi && pr.dport >= c.dLo && pr.dport <= c.dHi {
				return c.rule
			}
		}
		return tssNone
	}
}
