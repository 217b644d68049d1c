package nic

import (
	"fmt"

	"github.com/qosplane/qosplane/drivers/nic/wire/tc"
	"github.com/qosplane/qosplane/offload"
)

// mqprioFromLayout converts a plan's queue layout: hw 1, mode channel,
// shaper bw_rlimit, rates from bit/s to bytes/s (rounded down).
func mqprioFromLayout(q *offload.QueueLayout) (tc.Mqprio, error) {
	var o tc.Mqprio
	if q.NumTC < 1 || q.NumTC > 16 || len(q.TCs) != q.NumTC {
		return o, fmt.Errorf("queue layout: num_tc %d with %d TCs (want 1-16, equal)", q.NumTC, len(q.TCs))
	}
	o.NumTC = uint8(q.NumTC)
	o.HW = 1
	o.Channel, o.Shaper = true, true
	for i, tc := range q.PrioTC {
		if int(tc) >= q.NumTC {
			return o, fmt.Errorf("queue layout: priority %d maps to TC %d of %d", i, tc, q.NumTC)
		}
		o.PrioTC[i] = tc
	}
	var anyMin, anyMax bool
	minR, maxR := make([]uint64, q.NumTC), make([]uint64, q.NumTC)
	for i, tc := range q.TCs {
		if tc.Index != i {
			return o, fmt.Errorf("queue layout: TC at position %d has index %d", i, tc.Index)
		}
		if tc.Count == 0 {
			return o, fmt.Errorf("queue layout: TC %d has no queues", i)
		}
		o.Count[i], o.Offset[i] = tc.Count, tc.Offset
		minR[i], maxR[i] = tc.MinRate.Bytes(), tc.MaxRate.Bytes()
		anyMin = anyMin || minR[i] != 0
		anyMax = anyMax || maxR[i] != 0
	}
	if anyMin {
		o.MinRate = minR
	}
	if anyMax {
		o.MaxRate = maxR
	}
	return o, nil
}
