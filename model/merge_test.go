package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDirMerges(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"10-classes.yaml": "name: site\nmarking: {guaranteed: {dscp: 46}}\nclasses:\n  - {name: voice, service: guaranteed, rate: 1Mbit}\n  - {name: bulk}\n",
		"20-flows.yaml":   "name: site\nflows:\n  - {name: rtp, class: voice, match: {protocol: udp, dst-port: 5004}}\n",
		"30-targets.json": `{"name": "site", "targets": [{"name": "nic", "kind": "nic", "interface": "eth0", "capacity": "1Gbit"}]}`,
		"README.txt":      "not a policy",
	})
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "site" || len(p.Classes) != 2 || len(p.Flows) != 1 || len(p.Targets) != 1 {
		t.Fatalf("merged: %q %d classes %d flows %d targets", p.Name, len(p.Classes), len(p.Flows), len(p.Targets))
	}
	if c, _ := p.ClassByName("voice"); *c.Mark.DSCP != 46 {
		t.Errorf("marking from another file not applied: dscp %d", *c.Mark.DSCP)
	}
}

func TestLoadDirRefusesClashes(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": "name: s\nmarking: {guaranteed: {dscp: 46}}\nclasses:\n  - {name: voice, service: guaranteed, rate: 1Mbit}\n",
		"b.yaml": "name: s\nmarking: {guaranteed: {dscp: 34}}\nclasses:\n  - {name: data}\n  - {name: voice}\nflows:\n  - {class: nope}\n",
	})
	_, err := Load(dir)
	if err == nil {
		t.Fatal("clashes accepted")
	}
	b := filepath.Join(dir, "b.yaml")
	for _, want := range []string{
		b + `:2:30: marking.guaranteed.dscp: 34 differs from 46 set by an earlier file`,
		b + `:5:12: classes[2].name: class "voice" is already defined at classes[0]`,
		b + `:7:13: flows[0].class: class "nope" is not defined`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
