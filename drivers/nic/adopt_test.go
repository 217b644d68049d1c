package nic

import "testing"

func TestRuleHandle(t *testing.T) {
	a := ruleHandle("o1", "0123456789abcdef", 4)
	if a>>16 != handleMagic>>16 || a&0xFFFF == 0 || a != ruleHandle("o1", "0123456789abcdef", 4) {
		t.Fatalf("handle %#x", a)
	}
	if a == ruleHandle("o2", "0123456789abcdef", 4) || a == ruleHandle("o1", "0123456789abcdef", 6) {
		t.Fatal("owner and family do not change the handle")
	}
}
