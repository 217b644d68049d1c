package qtnstate

import (
	"encoding/json"
	"testing"
)

// A state object as the module printed it in the lab (qtn2r0 after a
// pedit + vlan modify + police filter).
const sample = `{"ifname":"qtn2r0","profile":"mlx5-switchdev","driver":"mlx5_core","representor":true,"hw_tc_offload":true,"channels":1,"num_tc":0,"mqprio":null,"flower":[{"cookie":"ff1a5abc0305b800","prio":49152,"chain":0,"dir":"ingress","proto":33024,"classid":0,"keys":{"eth_type":{"value":2048,"mask":65535},"vlan_id":{"value":10,"mask":4095},"used_keys":1027},"actions":[{"id":"pedit","cmd":"set","htype":"ip4","offset":0,"mask":4294902783,"val":47104},{"id":"vlan_mangle","vid":10,"prio":5,"proto":33024},{"id":"police","index":1,"rate_bytes_ps":12500000,"burst":65524,"exceed":"drop","notexceed":"pipe"}]}],"dcb":null,"last_error":{"op":"flower","errno":-5,"msg":"qostestnic: injected failure","detail":""},"txq_packets":[0]}`

func TestDecodeSample(t *testing.T) {
	var s State
	if err := json.Unmarshal([]byte(sample), &s); err != nil {
		t.Fatal(err)
	}
	if s.Ifname != "qtn2r0" || !s.Representor || s.Mqprio != nil || s.DCB != nil || len(s.Flower) != 1 {
		t.Fatalf("decoded %+v", s)
	}
	r := s.Flower[0]
	if r.Prio != 49152 || r.Proto != 0x8100 || r.Dir != "ingress" || len(r.Actions) != 3 {
		t.Fatalf("rule %+v", r)
	}
	if r.Actions[1].ID() != "vlan_mangle" {
		t.Errorf("action 1 id %q", r.Actions[1].ID())
	}
	if v, ok := r.Actions[2].Num("rate_bytes_ps"); !ok || v != 12_500_000 {
		t.Errorf("police rate %v %v", v, ok)
	}
	if s.LastError == nil || s.LastError.Errno != -5 || s.LastError.Msg != "qostestnic: injected failure" {
		t.Errorf("last_error %+v", s.LastError)
	}
}
