package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qosplane/qosplane/model/kube/v1alpha1"
)

// fakeSys builds SysRoot/class/net with interfaces, each optionally backed
// by a PCI device with a driver, vendor and device id.
func fakeSys(t *testing.T, ifs map[string][4]string) string {
	t.Helper()
	root := t.TempDir()
	for name, d := range ifs { // d: pci address, driver, vendor, device
		dir := filepath.Join(root, "class", "net", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if d[0] == "" {
			continue
		}
		dev := filepath.Join(root, "devices", "pci0000:00", d[0])
		drv := filepath.Join(root, "bus", "pci", "drivers", d[1])
		for _, p := range []string{dev, drv} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		must(t, os.Symlink(drv, filepath.Join(dev, "driver")))
		must(t, os.WriteFile(filepath.Join(dev, "vendor"), []byte("0x"+d[2]+"\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(dev, "device"), []byte("0x"+d[3]+"\n"), 0o644))
		must(t, os.Symlink(dev, filepath.Join(dir, "device")))
	}
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNodeResolver(t *testing.T) {
	root := fakeSys(t, map[string][4]string{
		"lo":        {},
		"ens1f0np0": {"0000:3b:00.0", "mlx5_core", "15b3", "101d"},
		"ens1f1np1": {"0000:3b:00.1", "mlx5_core", "15b3", "101d"},
		"ens2f0":    {"0000:5e:00.0", "ice", "8086", "159b"},
	})
	r := &NodeResolver{SysRoot: root, DefaultRoutes: func() ([]string, []string, error) {
		return []string{"ens2f0"}, []string{"ens1f0np0"}, nil
	}}
	for _, tc := range []struct {
		name    string
		sel     v1alpha1.InterfaceSelector
		want    string
		pci     string
		wantErr string
	}{
		{"by name", v1alpha1.InterfaceSelector{Name: "ens2f0"}, "ens2f0", "0000:5e:00.0", ""},
		{"virtual by name", v1alpha1.InterfaceSelector{Name: "lo"}, "lo", "", ""},
		{"missing name", v1alpha1.InterfaceSelector{Name: "eth9"}, "", "", `no interface matches interface "eth9"`},
		{"pattern", v1alpha1.InterfaceSelector{NamePattern: "ens*f0np0"}, "ens1f0np0", "0000:3b:00.0", ""},
		{"pattern twice", v1alpha1.InterfaceSelector{NamePattern: "ens1*"}, "", "", "2 interfaces match"},
		{"bad pattern", v1alpha1.InterfaceSelector{NamePattern: "ens["}, "", "", "namePattern"},
		{"driver", v1alpha1.InterfaceSelector{Driver: "ice"}, "ens2f0", "0000:5e:00.0", ""},
		{"driver twice", v1alpha1.InterfaceSelector{Driver: "mlx5_core"}, "", "", "ens1f0np0, ens1f1np1"},
		{"pci id", v1alpha1.InterfaceSelector{PCIID: &v1alpha1.PCIID{Vendor: "8086", Device: "159b"}}, "ens2f0", "0000:5e:00.0", ""},
		{"pci vendor twice", v1alpha1.InterfaceSelector{PCIID: &v1alpha1.PCIID{Vendor: "15b3"}}, "", "", "2 interfaces match PCI id 15b3"},
		{"pci none", v1alpha1.InterfaceSelector{PCIID: &v1alpha1.PCIID{Vendor: "14e4"}}, "", "", "no interface matches"},
		{"default route", v1alpha1.InterfaceSelector{DefaultRoute: true}, "ens2f0", "0000:5e:00.0", ""},
		{"nothing", v1alpha1.InterfaceSelector{}, "", "", "no criterion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, pci, err := r.ResolveNIC(&v1alpha1.NICTarget{Name: "nic", Interface: tc.sel})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error %q", name, err, tc.wantErr)
				}
				return
			}
			if err != nil || name != tc.want || pci != tc.pci {
				t.Fatalf("got %q %q %v; want %q %q", name, pci, err, tc.want, tc.pci)
			}
		})
	}
}

func TestNodeResolverDefaultRoute(t *testing.T) {
	root := fakeSys(t, map[string][4]string{"eth0": {}, "eth1": {}})
	for _, tc := range []struct {
		v4, v6  []string
		want    string
		wantErr string
	}{
		{nil, []string{"eth1"}, "eth1", ""},
		{[]string{"eth0", "eth0"}, nil, "eth0", ""},
		{[]string{"eth0", "eth1"}, nil, "", "IPv4 default routes leave through 2 interfaces"},
		{nil, nil, "", "no default route"},
	} {
		r := &NodeResolver{SysRoot: root, DefaultRoutes: func() ([]string, []string, error) { return tc.v4, tc.v6, nil }}
		name, _, err := r.ResolveNIC(&v1alpha1.NICTarget{Interface: v1alpha1.InterfaceSelector{DefaultRoute: true}})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v %v: got %q %v, want error %q", tc.v4, tc.v6, name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || name != tc.want {
			t.Errorf("%v %v: got %q %v, want %q", tc.v4, tc.v6, name, err, tc.want)
		}
	}
}
