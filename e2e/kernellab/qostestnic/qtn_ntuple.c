// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: ethtool RX network flow classification (ntuple rules) for the
 * ixgbe profile, refusing what ixgbe refuses in Linux 6.1
 * (drivers/net/ethernet/intel/ixgbe/ixgbe_ethtool.c):
 *
 *   ixgbe_get_rxnfc          GRXRINGS (rx queues), GRXCLSRLCNT (rule count
 *                            only: no table size, no RX_CLS_LOC_SPECIAL),
 *                            GRXCLSRULE, GRXCLSRLALL (-EMSGSIZE when the
 *                            caller's rule_cnt is too small)
 *   ixgbe_get_ethtool_fdir_entry  data = table size (2046), -EINVAL for an
 *                            empty location; the rule comes back with
 *                            FLOW_EXT set, the port's one mask, masked values,
 *                            and IP_USER_FLOW with proto tcp/udp/sctp turned
 *                            into TCP/UDP/SCTP_V4_FLOW
 *   ixgbe_add_ethtool_fdir_entry  -EOPNOTSUPP without the ntuple feature
 *                            (IXGBE_FLAG_FDIR_PERFECT_CAPABLE); -EINVAL for a
 *                            queue >= rx queues or a VF ring (no VFs here),
 *                            a location >= 2046 ("Location out of range"),
 *                            an unrecognised flow type (ixgbe_flowspec_to_flow_type:
 *                            tcp4, udp4, sctp4, ip4 with proto tcp/udp/sctp
 *                            or 0 with mask 0), and a mask different from the
 *                            other rules' ("Only one mask supported per port");
 *                            a rule at an occupied location replaces it
 *   ixgbe_del_ethtool_fdir_entry  -EINVAL for an empty location
 *
 * The table is a list sorted by location, like ixgbe's fdir_filter_list.
 * Rules and the mask are kept as the ethtool flow spec (masked), which is
 * what GRXCLSRULE reports.
 *
 * The cxgb4 profile (qtn7) shares the table with these differences, as
 * cxgb4_ntuple_set_filter / cxgb4_ntuple_del_filter (cxgb4_ethtool.c) do:
 * each rule keeps its own mask (a filter of its own through
 * cxgb4_flow_rule_replace), an occupied location is -EEXIST, the ntuple
 * feature is not looked at. The table size (2046 here) is the adapter's
 * ethtool_filters->nentries on real hardware.
 */
#include <linux/ethtool.h>
#include <linux/in.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "qtn.h"

/* (1024 << IXGBE_FDIR_PBALLOC_64K) - 2: ixgbe's default perfect filter table. */
#define QTN_NFC_TABLE 2046

static bool qtn_nfc_on(struct qtn_priv *p)
{
	return p->profile == QTN_PROFILE_IXGBE || p->profile == QTN_PROFILE_CXGB4;
}

/* ixgbe_flowspec_to_flow_type: returns the stored flow type or 0. */
static u32 qtn_nfc_flow_type(const struct ethtool_rx_flow_spec *fs)
{
	switch (fs->flow_type & ~FLOW_EXT) {
	case TCP_V4_FLOW:
	case UDP_V4_FLOW:
	case SCTP_V4_FLOW:
		return fs->flow_type & ~FLOW_EXT;
	case IP_USER_FLOW:
		switch (fs->h_u.usr_ip4_spec.proto) {
		case IPPROTO_TCP:
			return TCP_V4_FLOW;
		case IPPROTO_UDP:
			return UDP_V4_FLOW;
		case IPPROTO_SCTP:
			return SCTP_V4_FLOW;
		case 0:
			if (!fs->m_u.usr_ip4_spec.proto)
				return IP_USER_FLOW;
		}
	}
	return 0;
}

static struct qtn_nfc_rule *qtn_nfc_find(struct qtn_priv *p, u32 loc)
{
	struct qtn_nfc_rule *r;

	list_for_each_entry(r, &p->nfc_rules, list)
		if (r->fs.location == loc)
			return r;
	return NULL;
}

static int qtn_nfc_get_rule(struct qtn_priv *p, struct ethtool_rxnfc *cmd)
{
	struct ethtool_rx_flow_spec *fs = &cmd->fs;
	struct qtn_nfc_rule *r;

	cmd->data = QTN_NFC_TABLE;
	r = qtn_nfc_find(p, fs->location);
	if (!r)
		return -EINVAL;
	*fs = r->fs;
	return 0;
}

static int qtn_nfc_get_all(struct qtn_priv *p, struct ethtool_rxnfc *cmd, u32 *locs)
{
	struct qtn_nfc_rule *r;
	u32 cnt = 0;

	cmd->data = QTN_NFC_TABLE;
	list_for_each_entry(r, &p->nfc_rules, list) {
		if (cnt == cmd->rule_cnt)
			return -EMSGSIZE;
		locs[cnt++] = r->fs.location;
	}
	cmd->rule_cnt = cnt;
	return 0;
}

/* Builds the stored rule (masked values, FLOW_EXT always set, the flow type
 * ixgbe reports) and its mask from a request. */
static void qtn_nfc_canon(const struct ethtool_rx_flow_spec *in, u32 type,
			  struct ethtool_rx_flow_spec *out, struct qtn_nfc_mask *m)
{
	const struct ethtool_tcpip4_spec *h = &in->h_u.tcp_ip4_spec, *k = &in->m_u.tcp_ip4_spec;

	memset(m, 0, sizeof(*m));
	m->l4 = type != IP_USER_FLOW;
	m->src = k->ip4src;
	m->dst = k->ip4dst;
	m->psrc = k->psrc;
	m->pdst = k->pdst;
	memset(out, 0, sizeof(*out));
	if (in->flow_type & FLOW_EXT) {
		m->vm_pool = (unsigned char)ntohl(in->m_ext.data[1]);
		m->vlan_tci = in->m_ext.vlan_tci;
		m->flex = in->m_ext.vlan_etype;
		out->h_ext.data[1] = htonl((unsigned char)ntohl(in->h_ext.data[1]) & m->vm_pool);
		out->h_ext.vlan_tci = in->h_ext.vlan_tci & m->vlan_tci;
		out->h_ext.vlan_etype = in->h_ext.vlan_etype & m->flex;
	}
	out->flow_type = type | FLOW_EXT;
	if (type == IP_USER_FLOW) {
		out->h_u.usr_ip4_spec.ip_ver = ETH_RX_NFC_IP4;
		out->h_u.usr_ip4_spec.proto = 0;
		out->m_u.usr_ip4_spec.proto = 0;
	}
	/* ixgbe reads and reports the tcp_ip4 overlay for every type. */
	out->h_u.tcp_ip4_spec.ip4src = h->ip4src & m->src;
	out->h_u.tcp_ip4_spec.ip4dst = h->ip4dst & m->dst;
	out->h_u.tcp_ip4_spec.psrc = h->psrc & m->psrc;
	out->h_u.tcp_ip4_spec.pdst = h->pdst & m->pdst;
	out->ring_cookie = in->ring_cookie;
	out->location = in->location;
}

/* Writes the port mask into a stored rule (what GRXCLSRULE reports). */
static void qtn_nfc_apply_mask(struct ethtool_rx_flow_spec *fs, const struct qtn_nfc_mask *m)
{
	fs->m_u.tcp_ip4_spec.ip4src = m->src;
	fs->m_u.tcp_ip4_spec.ip4dst = m->dst;
	fs->m_u.tcp_ip4_spec.psrc = m->psrc;
	fs->m_u.tcp_ip4_spec.pdst = m->pdst;
	fs->m_ext.vlan_tci = m->vlan_tci;
	fs->m_ext.vlan_etype = m->flex;
	fs->m_ext.data[1] = htonl(m->vm_pool);
}

static int qtn_nfc_add(struct qtn_priv *p, struct ethtool_rxnfc *cmd)
{
	struct ethtool_rx_flow_spec *fs = &cmd->fs;
	struct qtn_nfc_rule *r, *old, *pos;
	struct qtn_nfc_mask mask;
	char detail[64];
	u32 type;

	/* cxgb4_ntuple_set_filter looks at neither the feature nor a VF ring
	 * the same way; it refuses an occupied location. */
	if (p->profile == QTN_PROFILE_CXGB4 && qtn_nfc_find(p, fs->location))
		return QTN_REFUSE(p, NULL, "ntuple", -EEXIST, "location in use", NULL);
	if (p->profile == QTN_PROFILE_IXGBE && !(p->dev->features & NETIF_F_NTUPLE))
		return QTN_REFUSE(p, NULL, "ntuple", -EOPNOTSUPP,
				  "ntuple filters are off (ethtool -K ntuple on)", NULL);
	if (fs->ring_cookie != RX_CLS_FLOW_DISC) {
		u64 ring = ethtool_get_flow_spec_ring(fs->ring_cookie);

		if (ethtool_get_flow_spec_ring_vf(fs->ring_cookie) || ring >= qtn_rx_queues(p)) {
			snprintf(detail, sizeof(detail), "ring_cookie %#llx, %u rx queues",
				 fs->ring_cookie, qtn_rx_queues(p));
			return QTN_REFUSE(p, NULL, "ntuple", -EINVAL, "queue out of range", detail);
		}
	}
	if (fs->location >= QTN_NFC_TABLE) {
		snprintf(detail, sizeof(detail), "location %u >= %u", fs->location, QTN_NFC_TABLE);
		return QTN_REFUSE(p, NULL, "ntuple", -EINVAL, "Location out of range", detail);
	}
	type = qtn_nfc_flow_type(fs);
	if (!type) {
		snprintf(detail, sizeof(detail), "flow_type %#x", fs->flow_type);
		return QTN_REFUSE(p, NULL, "ntuple", -EINVAL, "Unrecognized flow type", detail);
	}
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	qtn_nfc_canon(fs, type, &r->fs, &mask);
	if (p->profile == QTN_PROFILE_CXGB4) {
		/* cxgb4_ntuple_set_filter: each rule is a filter with its own
		 * mask (cxgb4_flow_rule_replace), no per-port mask. */
		if (qtn_should_fail()) {
			kfree(r);
			return QTN_REFUSE(p, NULL, "ntuple", -EIO, "injected failure", NULL);
		}
		qtn_nfc_apply_mask(&r->fs, &mask);
		goto insert;
	}
	if (!p->nfc_count) {
		p->nfc_mask = mask;
	} else if (memcmp(&p->nfc_mask, &mask, sizeof(mask))) {
		kfree(r);
		return QTN_REFUSE(p, NULL, "ntuple", -EINVAL, "Only one mask supported per port", NULL);
	}
	if (qtn_should_fail()) {
		kfree(r);
		return QTN_REFUSE(p, NULL, "ntuple", -EIO, "injected failure", NULL);
	}
	qtn_nfc_apply_mask(&r->fs, &p->nfc_mask);
insert:
	old = qtn_nfc_find(p, fs->location);
	if (old) {
		list_del(&old->list);
		kfree(old);
		p->nfc_count--;
	}
	/* Insert sorted by location. */
	list_for_each_entry(pos, &p->nfc_rules, list)
		if (pos->fs.location > r->fs.location)
			break;
	list_add_tail(&r->list, &pos->list);
	p->nfc_count++;
	return 0;
}

static int qtn_nfc_del(struct qtn_priv *p, u32 loc)
{
	struct qtn_nfc_rule *r = qtn_nfc_find(p, loc);

	if (!r)
		return -EINVAL;
	list_del(&r->list);
	kfree(r);
	p->nfc_count--;
	return 0;
}

/* get_rxnfc and set_rxnfc (ixgbe_get_rxnfc, ixgbe_set_rxnfc): one switch,
 * the commands are disjoint (the core calls set_rxnfc for SRXCLSRL* only). */
static int qtn_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd, u32 *locs)
{
	struct qtn_priv *p = netdev_priv(dev);
	int err = -EOPNOTSUPP;

	if (!qtn_nfc_on(p))
		return -EOPNOTSUPP;
	mutex_lock(&p->lock);
	switch (cmd->cmd) {
	case ETHTOOL_GRXRINGS:
		cmd->data = qtn_rx_queues(p);
		err = 0;
		break;
	case ETHTOOL_GRXCLSRLCNT:
		cmd->rule_cnt = p->nfc_count;
		err = 0;
		break;
	case ETHTOOL_GRXCLSRULE:
		err = qtn_nfc_get_rule(p, cmd);
		break;
	case ETHTOOL_GRXCLSRLALL:
		/* locs is NULL when the caller asks for no location (rule_cnt
		 * 0): qtn_nfc_get_all writes none then. */
		err = qtn_nfc_get_all(p, cmd, locs);
		break;
	case ETHTOOL_SRXCLSRLINS:
		err = qtn_nfc_add(p, cmd);
		break;
	case ETHTOOL_SRXCLSRLDEL:
		err = qtn_nfc_del(p, cmd->fs.location);
		break;
	}
	mutex_unlock(&p->lock);
	return err;
}

int qtn_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd, u32 *locs)
{
	return qtn_rxnfc(dev, cmd, locs);
}

int qtn_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd)
{
	return qtn_rxnfc(dev, cmd, NULL);
}

void qtn_nfc_free_all(struct qtn_priv *p)
{
	struct qtn_nfc_rule *r, *n;

	list_for_each_entry_safe(r, n, &p->nfc_rules, list) {
		list_del(&r->list);
		kfree(r);
	}
	p->nfc_count = 0;
}

/* The table as JSON for debugfs: [{"loc":..,"flow_type":"tcp4|udp4|sctp4|ip4",
 * "src":"a.b.c.d","src_mask":..,"dst":..,"dst_mask":..,"src_port":..,
 * "src_port_mask":..,"dst_port":..,"dst_port_mask":..,"queue":N|-1 (drop)}]. */
void qtn_nfc_show(struct seq_file *s, struct qtn_priv *p)
{
	static const char *const names[] = { [TCP_V4_FLOW] = "tcp4", [UDP_V4_FLOW] = "udp4",
					     [SCTP_V4_FLOW] = "sctp4", [IP_USER_FLOW] = "ip4" };
	struct qtn_nfc_rule *r;
	const char *sep = "";

	seq_puts(s, "[");
	list_for_each_entry(r, &p->nfc_rules, list) {
		const struct ethtool_tcpip4_spec *h = &r->fs.h_u.tcp_ip4_spec, *m = &r->fs.m_u.tcp_ip4_spec;
		u32 t = r->fs.flow_type & ~FLOW_EXT;

		seq_printf(s, "%s{\"loc\":%u,\"flow_type\":\"%s\",\"src\":\"%pI4\",\"src_mask\":\"%pI4\","
			   "\"dst\":\"%pI4\",\"dst_mask\":\"%pI4\",\"src_port\":%u,\"src_port_mask\":%u,"
			   "\"dst_port\":%u,\"dst_port_mask\":%u,\"queue\":%lld}",
			   sep, r->fs.location, t < ARRAY_SIZE(names) && names[t] ? names[t] : "?",
			   &h->ip4src, &m->ip4src, &h->ip4dst, &m->ip4dst,
			   ntohs(h->psrc), ntohs(m->psrc), ntohs(h->pdst), ntohs(m->pdst),
			   r->fs.ring_cookie == RX_CLS_FLOW_DISC ? -1LL : (long long)r->fs.ring_cookie);
		sep = ",";
	}
	seq_puts(s, "]");
}
