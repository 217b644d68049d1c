package fallback

import "math/bits"

// flowKey is the flow cache key: both addresses (IPv4-mapped for IPv4),
// ports, protocol, family, DSCP, VLAN id and ingress ifindex packed in six
// words so that hashing and comparing cost a few instructions.
type flowKey [6]uint64

// set fills k from a parsed frame. It writes word by word into k (rather
// than returning a key by value) so that the reads that follow are served
// by store forwarding: a copied key is read with 16-byte loads spanning two
// 8-byte stores, which stalls.
func (k *flowKey) set(pr *parsed, ifindex int) {
	var tagged uint64
	if pr.tagOff >= 0 {
		tagged = 1
	}
	k[0], k[1], k[2], k[3] = pr.srcHi, pr.srcLo, pr.dstHi, pr.dstLo
	k[4] = uint64(pr.ports) | uint64(pr.proto)<<32 | uint64(pr.tos>>2)<<40 | uint64(pr.family)<<48
	k[5] = uint64(pr.vlan) | tagged<<12 | uint64(pr.etype)<<16 | uint64(uint32(ifindex))<<32
}

// hash mixes the key with a per-pacer seed. The six words fold into two
// (each word into one of them exactly once, rotated so that equal fields
// of source and destination do not cancel), and one seeded 64x64->128-bit
// multiplication mixes those (wyhash's mum). Two keys collide for every
// seed only if their folds are equal, which needs changes to two fields
// that cancel bit for bit; otherwise collisions are seed-dependent chance.
func (k *flowKey) hash(seed uint64) uint64 {
	a := k[0] ^ bits.RotateLeft64(k[2], 21) ^ bits.RotateLeft64(k[4], 42)
	b := k[1] ^ bits.RotateLeft64(k[3], 21) ^ bits.RotateLeft64(k[5], 42)
	return mum(a^seed, b^0xe7037ed1a0b428db)
}

func mum(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	return hi ^ lo
}

// flowHash is the 5-tuple part of the key hashed for per-flow queueing:
// packets of one connection share a sub-queue whatever their DSCP.
func (k *flowKey) flowHash(seed uint64) uint32 {
	ports := k[4] & 0x0000_00FF_FFFF_FFFF // ports and protocol, not DSCP or family
	a := mum(k[0]^seed, k[2]^0xa0761d6478bd642f)
	b := mum(k[1]^0x8ebc6af09c88c6e3, k[3]^seed)
	h := mum(a^ports^0x589965cc75374cc3, b^seed)
	return uint32(h ^ h>>32)
}

func (k *flowKey) equal(o *flowKey) bool {
	return k[0] == o[0] && k[1] == o[1] && k[2] == o[2] && k[3] == o[3] && k[4] == o[4] && k[5] == o[5]
}

// cacheWays is the set associativity of the flow cache.
const cacheWays = 4

// flowEntry is one cached classification.
type flowEntry struct {
	key   flowKey
	seen  int64 // ns of the last packet
	rule  int32 // -1 = no rule matched
	fhash uint32
}

// Protection ranks of cache entries. A new flow may evict only an entry
// whose rank is at most its own, so that a flood of new flows cannot push
// out established flows of classes that bound delay
// (model.ServiceType.BoundsDelay): best-effort newcomers evict best-effort
// entries only, and newcomers of a class that bounds delay evict, besides
// those, entries of such classes that have not yet had a second packet.
const (
	rankBestEffort uint8 = iota // a class that bounds no delay
	rankUrgentNew               // a class that bounds delay; one packet so far
	rankUrgentLive              // a class that bounds delay; a cache hit since
)

// flowSet is one set of the cache: a tag per way (hash bits, never 0; 0
// marks an empty way) checked before the 48-byte key, so a lookup touches
// one cache line besides the entry it finds, and each way's protection
// rank (valid while the way's tag is not 0), next to the tags.
type flowSet struct {
	tag  [cacheWays]uint32
	rank [cacheWays]uint8
	ent  [cacheWays]flowEntry
}

// flowCache maps flow keys to the rule that matched, so that a connection
// is classified once (as policy-based QoS matches per endpoint). It is a
// set-associative table of fixed size: an entry idle for idle ns or more is
// expired. A new flow takes an empty or expired way, else evicts the least
// recently seen entry of the lowest protection rank not above its own
// (rankBestEffort...), and when the set holds none it may evict, it is not
// cached (bypassed: its next packet is classified again). It never
// allocates after construction.
type flowCache struct {
	sets []flowSet
	mask uint64 // len(sets)-1
	idle int64
	seed uint64
	// spare holds the verdict of a bypassed flow for the caller to fill
	// and read; it is in no set.
	spare flowEntry

	hits, misses, evictions, bypassed uint64
}

func newFlowCache(entries int, idle int64, seed uint64) flowCache {
	sets := 1
	for sets*cacheWays < entries {
		sets <<= 1
	}
	return flowCache{sets: make([]flowSet, sets), mask: uint64(sets - 1), idle: idle, seed: seed}
}

// lookup returns the live entry for k (whose hash is h = k.hash(c.seed))
// at now, refreshed to now, or nil on a miss.
func (c *flowCache) lookup(k *flowKey, h uint64, now int64) *flowEntry {
	set := &c.sets[h&c.mask]
	t := uint32(h>>32) | 1
	for i := range cacheWays {
		if set.tag[i] == t {
			e := &set.ent[i]
			if now-e.seen < c.idle && e.key.equal(k) {
				e.seen = now
				if set.rank[i] == rankUrgentNew {
					set.rank[i] = rankUrgentLive
				}
				c.hits++
				return e
			}
		}
	}
	c.misses++
	return nil
}

// insert caches the flow k (hash h, just missed by lookup) at now and
// returns its entry for the caller to fill (rule, fhash), with cached
// true; urgent says its class bounds delay. When its set holds no entry
// the flow may evict, it returns c.spare and false.
func (c *flowCache) insert(k *flowKey, h uint64, now int64, urgent bool) (*flowEntry, bool) {
	set := &c.sets[h&c.mask]
	rank := rankBestEffort
	if urgent {
		rank = rankUrgentNew
	}
	v := -1
	for i := range cacheWays {
		if set.tag[i] == 0 || now-set.ent[i].seen >= c.idle {
			v = i
			break
		}
		if set.rank[i] > rank {
			continue
		}
		if v < 0 || set.rank[i] < set.rank[v] || set.rank[i] == set.rank[v] && set.ent[i].seen < set.ent[v].seen {
			v = i
		}
	}
	if v < 0 {
		c.bypassed++
		c.spare = flowEntry{key: *k, seen: now}
		return &c.spare, false
	}
	if set.tag[v] != 0 && now-set.ent[v].seen < c.idle {
		c.evictions++
	}
	set.tag[v] = uint32(h>>32) | 1
	set.rank[v] = rank
	e := &set.ent[v]
	for i := range e.key {
		e.key[i] = k[i]
	}
	e.seen = now
	return e, true
}

// len counts live entries (for tests and stats).
func (c *flowCache) len(now int64) int {
	n := 0
	for i := range c.sets {
		for w := range cacheWays {
			if c.sets[i].tag[w] != 0 && now-c.sets[i].ent[w].seen < c.idle {
				n++
			}
		}
	}
	return n
}
