package gnmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"

	"github.com/qosplane/qosplane/model"
	"github.com/qosplane/qosplane/offload"
)

// Driver manages what qosplane owns on one gNMI switch. It implements
// offload.Driver. A Driver is not safe for concurrent use; use one per
// target (ApplyFleet does).
type Driver struct {
	plan   *offload.TargetPlan
	conn   *grpc.ClientConn
	client gpb.GNMIClient
	rd     *reader
	log    *slog.Logger
	caps   *offload.Capabilities
	sets   int
}

var _ offload.Driver = (*Driver)(nil)

// Open connects to the switch of a plan (tp.Device: Address, TLS,
// Credentials) and checks its gNMI Capabilities: it refuses a target that
// does not list the openconfig-qos model or the JSON_IETF encoding. tp is
// the driver's reference plan (Current compares against it, Remove uses
// its Owner); Apply replaces it. Open changes nothing on the device.
func Open(ctx context.Context, tp *offload.TargetPlan, log *slog.Logger) (*Driver, error) {
	if tp == nil {
		return nil, errors.New("gnmi: nil plan")
	}
	if tp.Kind != model.Switch {
		return nil, fmt.Errorf("target %q: plan is of kind %q, not %q", tp.Target, tp.Kind, model.Switch)
	}
	if tp.Owner == "" {
		return nil, fmt.Errorf("target %q: plan has no owner prefix", tp.Target)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("target", tp.Target, "address", tp.Device.Address)
	profile, err := offload.LoadProfile(profileName(tp))
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", tp.Target, err)
	}
	if c := tp.Device.Credentials; tp.Device.TLS.Insecure && (c.PasswordEnv != "" || c.PasswordFile != "") {
		log.Warn("tls.insecure: the switch password travels in plaintext")
	}
	conn, err := dial(tp.Device.Address, tp.Device.TLS, tp.Device.Credentials)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", tp.Target, err)
	}
	d := &Driver{plan: tp, conn: conn, client: gpb.NewGNMIClient(conn), log: log, caps: profile}
	if d.rd, err = newReader(d.client, log); err != nil {
		conn.Close()
		return nil, err
	}
	if err := d.checkCapabilities(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("target %q: %w", tp.Target, err)
	}
	return d, nil
}

func profileName(tp *offload.TargetPlan) string {
	if tp.Profile == "" {
		return defaultProfile
	}
	return tp.Profile
}

// checkCapabilities asks the target what it supports and refuses one
// without openconfig-qos or JSON_IETF.
func (d *Driver) checkCapabilities(ctx context.Context) error {
	resp, err := d.client.Capabilities(ctx, &gpb.CapabilityRequest{})
	if err != nil {
		return fmt.Errorf("gNMI Capabilities: %w", err)
	}
	var qos *gpb.ModelData
	for _, m := range resp.GetSupportedModels() {
		if m.GetName() == "openconfig-qos" {
			qos = m
		}
	}
	if qos == nil {
		return fmt.Errorf("the target does not support the openconfig-qos model (gNMI %s, %d models)", resp.GetGNMIVersion(), len(resp.GetSupportedModels()))
	}
	if !slices.Contains(resp.GetSupportedEncodings(), gpb.Encoding_JSON_IETF) {
		return fmt.Errorf("the target does not support the JSON_IETF encoding (it offers %v)", resp.GetSupportedEncodings())
	}
	d.log.Debug("gNMI capabilities", "gnmi", resp.GetGNMIVersion(), "openconfig-qos", qos.GetVersion())
	return nil
}

// Probe returns the switch profile the plan names. The switch's own
// Capabilities were checked by Open.
func (d *Driver) Probe(ctx context.Context) (*offload.Capabilities, error) {
	c := *d.caps
	return &c, nil
}

// SyncResult says what a sync did.
type SyncResult struct {
	// Changed is set when a SetRequest was sent (and accepted).
	Changed bool
	// Paths are the units deleted ("-path") and replaced ("~path").
	Paths []string
	// Skipped lists plan items placed as unsupported, with the reason.
	Skipped []string
}

// Sync makes the owned part of the device's /qos equal to want's tree: it
// reads /qos, compares every owned unit, and, when anything differs, sends
// ONE SetRequest replacing the differing units and deleting owned units no
// longer wanted. When nothing differs it sends no Set. The SetRequest is one
// transaction: if the target refuses it, the device is unchanged and the
// error carries the target's message.
func (d *Driver) Sync(ctx context.Context, want *offload.TargetPlan) (*SyncResult, error) {
	t, err := BuildTree(want)
	if err != nil {
		return nil, err
	}
	return d.syncTree(ctx, want, t)
}

// syncTree is Sync with want's tree already built.
func (d *Driver) syncTree(ctx context.Context, want *offload.TargetPlan, t *Tree) (*SyncResult, error) {
	cur, err := d.rd.readQos(ctx)
	if err != nil {
		return nil, fmt.Errorf("target %q: read /qos: %w", want.Target, err)
	}
	ch, err := diffSubtrees(ownedSubtrees(cur, want.Owner), ownedSubtrees(t.Root.Qos, want.Owner))
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", want.Target, err)
	}
	if err := collapseInterfaces(cur, want.Owner, ch); err != nil {
		return nil, fmt.Errorf("target %q: %w", want.Target, err)
	}
	res := &SyncResult{Paths: ch.paths(), Skipped: t.Skipped}
	if ch.empty() {
		d.log.Debug("switch in sync; no Set sent")
		return res, nil
	}
	if err := d.set(ctx, ch); err != nil {
		return nil, fmt.Errorf("target %q: %w", want.Target, err)
	}
	d.log.Info("switch updated", "deleted", len(ch.Delete), "replaced", len(ch.Replace))
	res.Changed = true
	return res, nil
}

func (d *Driver) set(ctx context.Context, ch *change) error {
	d.sets++
	_, err := d.client.Set(ctx, &gpb.SetRequest{
		Prefix:  &gpb.Path{Origin: origin},
		Delete:  ch.Delete,
		Replace: ch.Replace,
	})
	if err != nil {
		return fmt.Errorf("gNMI Set (%d deletes, %d replaces) refused: %w", len(ch.Delete), len(ch.Replace), err)
	}
	return nil
}

// Reference makes want the plan Current reports the device against
// (offload.Referencer), so that a switch already holding want reads back as
// want and a diff is empty.
func (d *Driver) Reference(want *offload.TargetPlan) { d.plan = want }

// SetRequests is the number of SetRequests the driver has sent.
func (d *Driver) SetRequests() int { return d.sets }

// Apply makes the device hold want. It reconciles whole owned units (see
// Sync), so ops only say why it was called; a device already equal to
// want receives no Set. On success want becomes the reference plan.
func (d *Driver) Apply(ctx context.Context, want *offload.TargetPlan, ops []offload.Op) error {
	d.log.Debug("apply", "ops", len(ops))
	if _, err := d.Sync(ctx, want); err != nil {
		return err
	}
	d.plan = want
	return nil
}

// Remove deletes every owned unit of the reference plan's owner from the
// device in one SetRequest; units of other owners and foreign
// configuration stay. What qosplane replaced on an interface binding
// (a foreign scheduler policy bound before) is not restored.
func (d *Driver) Remove(ctx context.Context) error {
	cur, err := d.rd.readQos(ctx)
	if err != nil {
		return fmt.Errorf("target %q: read /qos: %w", d.plan.Target, err)
	}
	ch, err := diffSubtrees(ownedSubtrees(cur, d.plan.Owner), nil)
	if err == nil {
		err = collapseInterfaces(cur, d.plan.Owner, ch)
	}
	if err != nil {
		return fmt.Errorf("target %q: remove: %w", d.plan.Target, err)
	}
	if ch.empty() {
		return nil
	}
	if err := d.set(ctx, ch); err != nil {
		return fmt.Errorf("target %q: remove: %w", d.plan.Target, err)
	}
	d.log.Info("removed owned configuration", "deleted", len(ch.Delete))
	return nil
}

// Close releases the gRPC connection. It does not change the device.
func (d *Driver) Close() error { return d.conn.Close() }
