package fallback

import (
	"fmt"
	"testing"
	"time"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// floodPacer is a pacer with a guaranteed class (udp to port 5000) and a
// best-effort default, and a flow cache of 64 entries (16 sets).
func floodPacer(t *testing.T) *Pacer {
	t.Helper()
	rt := classPlan("rt", 5, 0, model.Shape)
	rt.Service = model.Guaranteed
	be := classPlan("be", 0, 0, model.Shape)
	be.Service = model.BestEffort
	return newPacer(t, plan(0, []offload.ClassPlan{rt, be},
		pacerRule("rt", "rt", 1, model.Match{Protocol: model.UDP, DstPort: model.PortRange{Lo: 5000, Hi: 5000}})),
		Config{FlowEntries: 64, FlowIdle: time.Second})
}

// setOf is the cache set the flow of frame s falls in.
func setOf(p *Pacer, s frameSpec) uint64 {
	buf := make([]byte, 200)
	var pr parsed
	parse(buf[:s.build(buf)], &pr)
	var k flowKey
	k.set(&pr, 0)
	return k.hash(p.cache.seed) & p.cache.mask
}

// urgentFlows picks delay-bound flows (udp to 5000 from distinct source
// ports), perSet of them in every set of p's cache.
func urgentFlows(p *Pacer, perSet int) []frameSpec {
	count := make([]int, len(p.cache.sets))
	var flows []frameSpec
	for sport := uint16(1); len(flows) < perSet*len(count); sport++ {
		s := udp4(sport, 5000, 100)
		if set := setOf(p, s); count[set] < perSet {
			count[set]++
			flows = append(flows, s)
		}
	}
	return flows
}

func send(t *testing.T, p *Pacer, s frameSpec, now int64) {
	t.Helper()
	p.Enqueue(pkt(t, p, s), now)
	drain(p, now, nil)
}

// bestEffortFlood sends n new best-effort flows (one packet each, distinct
// destination and source port) at now.
func bestEffortFlood(t *testing.T, p *Pacer, n int, now int64) {
	t.Helper()
	for i := range n {
		s := frameSpec{src: "10.0.0.1", dst: fmt.Sprintf("10.1.%d.%d", i>>8&255, i&255), proto: protoUDP,
			sport: uint16(1024 + i>>16), dport: 80, vlan: -1, size: 100}
		send(t, p, s, now)
	}
}

// checkHits sends one packet of each flow at now and fails unless every
// one hits the cache.
func checkHits(t *testing.T, p *Pacer, flows []frameSpec, now int64, what string) {
	t.Helper()
	hits, misses := p.cache.hits, p.cache.misses
	for _, s := range flows {
		send(t, p, s, now)
	}
	if h, m := p.cache.hits-hits, p.cache.misses-misses; h != uint64(len(flows)) || m != 0 {
		t.Fatalf("%s: %d of %d delay-bound flows hit the cache, %d missed", what, h, len(flows), m)
	}
}

// TestFlowCacheKeepsDelayBound: a flood of new flows does not evict
// established flows of a class that bounds delay. With every set full of
// them, best-effort newcomers are not cached (bypassed) and so are new
// delay-bound flows; with a way left, the newcomers churn that way only.
// Flows of such a class that stay idle for FlowIdle expire as any other.
func TestFlowCacheKeepsDelayBound(t *testing.T) {
	const sec = int64(time.Second)
	for _, perSet := range []int{cacheWays, cacheWays - 1} {
		t.Run(fmt.Sprintf("urgent=%d/%d", perSet, cacheWays), func(t *testing.T) {
			p := floodPacer(t)
			now := int64(time.Hour)
			flows := urgentFlows(p, perSet)
			for _, s := range flows { // two packets each: established
				send(t, p, s, now)
				send(t, p, s, now+1)
			}
			if n := p.cache.len(now + 1); n != len(flows) {
				t.Fatalf("%d entries cached, want %d", n, len(flows))
			}
			now += 1000
			bestEffortFlood(t, p, 10_000, now)
			if perSet == cacheWays {
				if p.cache.bypassed != 10_000 || p.cache.evictions != 0 {
					t.Fatalf("full sets: %d of 10000 best-effort flows bypassed, %d evictions; want all bypassed, none evicted",
						p.cache.bypassed, p.cache.evictions)
				}
			} else if p.cache.bypassed != 0 || p.cache.evictions < 10_000-uint64(len(p.cache.sets)) {
				t.Fatalf("a free way per set: %d bypassed, %d evictions; want none bypassed, the free ways churned", p.cache.bypassed, p.cache.evictions)
			}
			checkHits(t, p, flows, now+1, "after a best-effort flood")

			// New delay-bound flows (one packet each) do not evict the
			// established ones either.
			for i := range 2000 {
				send(t, p, udp4(uint16(20000+i), 5000, 100), now+2)
			}
			checkHits(t, p, flows, now+3, "after a flood of new delay-bound flows")

			// Idle for FlowIdle, they expire and best-effort flows take the
			// ways.
			now += 2 * sec
			bypassed := p.cache.bypassed
			bestEffortFlood(t, p, 1000, now)
			if p.cache.bypassed != bypassed {
				t.Fatalf("%d best-effort flows bypassed with every delay-bound entry expired", p.cache.bypassed-bypassed)
			}
			if st := p.Stats(); st.FlowCacheBypass != p.cache.bypassed {
				t.Fatalf("Stats().FlowCacheBypass %d, want %d", st.FlowCacheBypass, p.cache.bypassed)
			}
		})
	}
}

// TestFlowCacheVictims: the victim order within one set. An urgent
// newcomer evicts best-effort entries before urgent ones with one packet,
// never an established urgent entry; a best-effort newcomer evicts the
// least recently seen best-effort entry only.
func TestFlowCacheVictims(t *testing.T) {
	c := newFlowCache(cacheWays, 1000, 1)
	if len(c.sets) != 1 {
		t.Fatalf("%d sets, want 1", len(c.sets))
	}
	keys := make([]flowKey, cacheWays+4)
	for i := range keys {
		keys[i][0] = uint64(i)
	}
	insert := func(i int, now int64, urgent bool) bool {
		k := &keys[i]
		if c.lookup(k, k.hash(c.seed), now) != nil {
			t.Fatalf("key %d already cached", i)
		}
		_, cached := c.insert(k, k.hash(c.seed), now, urgent)
		return cached
	}
	has := func(i int, now int64) bool {
		k := &keys[i]
		set := &c.sets[k.hash(c.seed)&c.mask]
		for w := range cacheWays {
			if set.tag[w] == uint32(k.hash(c.seed)>>32)|1 && set.ent[w].key.equal(k) && now-set.ent[w].seen < c.idle {
				return true
			}
		}
		return false
	}
	// Ways: 0 urgent established, 1 urgent new, 2 best-effort (older),
	// 3 best-effort (newer).
	insert(0, 1, true)
	c.lookup(&keys[0], keys[0].hash(c.seed), 2) // second packet: established
	insert(1, 3, true)
	insert(2, 4, false)
	insert(3, 5, false)
	if !insert(4, 6, false) || has(2, 6) || !has(3, 6) {
		t.Fatal("best-effort newcomer did not evict the older best-effort entry")
	}
	if !insert(5, 7, true) || has(3, 7) || !has(4, 7) || !has(1, 7) { // 3 (seen 5) is older than 4 (seen 6)
		t.Fatal("urgent newcomer did not evict the least recently seen best-effort entry")
	}
	if !insert(6, 8, true) || has(4, 8) {
		t.Fatal("urgent newcomer did not evict the last best-effort entry")
	}
	// Now: 0 established, 1 new (seen 3), 5 new (seen 7), 6 new (seen 8).
	if insert(7, 9, false) {
		t.Fatal("best-effort newcomer cached in a set of urgent entries")
	}
	if !insert(2, 9, true) || has(1, 9) || !has(0, 9) || !has(5, 9) || !has(6, 9) {
		t.Fatal("urgent newcomer did not evict the oldest urgent entry with one packet")
	}
}
