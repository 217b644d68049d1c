// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: TC_SETUP_BLOCK and flower offload (FLOW_CLS_REPLACE, DESTROY,
 * STATS), with the per-profile rules of mlx5 NIC mode, ice, mlx5
 * switchdev representors, i40e ADQ, bnxt and cxgb4 (these two take none of
 * qosplane's rules). Accepted rules are kept rendered as JSON.
 */
#include <linux/if_ether.h>
#include <linux/slab.h>
#include <linux/stdarg.h>
#include <net/ipv6.h>

#include "qtn.h"

#define OP "flower"
#define QTN_RULE_JSON_MAX 4096

/* A bounded JSON text buffer; overflow sets ->over. */
struct qtn_jbuf {
	char *s;
	size_t len, cap;
	bool over;
};

static __printf(2, 3) void jb(struct qtn_jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->over = true;
		return;
	}
	b->len += n;
}

static const char *qtn_act_name(enum flow_action_id id)
{
	switch (id) {
	case FLOW_ACTION_ACCEPT: return "accept";
	case FLOW_ACTION_DROP: return "drop";
	case FLOW_ACTION_TRAP: return "trap";
	case FLOW_ACTION_GOTO: return "goto";
	case FLOW_ACTION_REDIRECT: return "redirect";
	case FLOW_ACTION_MIRRED: return "mirred";
	case FLOW_ACTION_REDIRECT_INGRESS: return "redirect_ingress";
	case FLOW_ACTION_MIRRED_INGRESS: return "mirred_ingress";
	case FLOW_ACTION_VLAN_PUSH: return "vlan_push";
	case FLOW_ACTION_VLAN_POP: return "vlan_pop";
	case FLOW_ACTION_VLAN_MANGLE: return "vlan_mangle";
	case FLOW_ACTION_TUNNEL_ENCAP: return "tunnel_encap";
	case FLOW_ACTION_TUNNEL_DECAP: return "tunnel_decap";
	case FLOW_ACTION_MANGLE: return "pedit";
	case FLOW_ACTION_ADD: return "pedit";
	case FLOW_ACTION_CSUM: return "csum";
	case FLOW_ACTION_MARK: return "mark";
	case FLOW_ACTION_PTYPE: return "ptype";
	case FLOW_ACTION_PRIORITY: return "priority";
	case FLOW_ACTION_WAKE: return "wake";
	case FLOW_ACTION_QUEUE: return "queue";
	case FLOW_ACTION_SAMPLE: return "sample";
	case FLOW_ACTION_POLICE: return "police";
	case FLOW_ACTION_CT: return "ct";
	case FLOW_ACTION_CT_METADATA: return "ct_metadata";
	case FLOW_ACTION_MPLS_PUSH: return "mpls_push";
	case FLOW_ACTION_MPLS_POP: return "mpls_pop";
	case FLOW_ACTION_MPLS_MANGLE: return "mpls_mangle";
	case FLOW_ACTION_GATE: return "gate";
	case FLOW_ACTION_PPPOE_PUSH: return "pppoe_push";
	case FLOW_ACTION_JUMP: return "jump";
	case FLOW_ACTION_PIPE: return "pipe";
	case FLOW_ACTION_VLAN_PUSH_ETH: return "vlan_push_eth";
	case FLOW_ACTION_VLAN_POP_ETH: return "vlan_pop_eth";
	case FLOW_ACTION_CONTINUE: return "continue";
	default: return "unknown";
	}
}

static const char *qtn_htype_name(enum flow_action_mangle_base h)
{
	switch (h) {
	case FLOW_ACT_MANGLE_HDR_TYPE_ETH: return "eth";
	case FLOW_ACT_MANGLE_HDR_TYPE_IP4: return "ip4";
	case FLOW_ACT_MANGLE_HDR_TYPE_IP6: return "ip6";
	case FLOW_ACT_MANGLE_HDR_TYPE_TCP: return "tcp";
	case FLOW_ACT_MANGLE_HDR_TYPE_UDP: return "udp";
	default: return "unspec";
	}
}

/* ---- rendering ---- */

/* qtn_key_u renders a numeric match key as "name":{"value":v,"mask":m} when
 * its mask is set, separated from what came before by *sep. */
static void qtn_key_u(struct qtn_jbuf *b, const char **sep, const char *name,
		      unsigned int key, unsigned int mask)
{
	if (!mask)
		return;
	jb(b, "%s\"%s\":{\"value\":%u,\"mask\":%u}", *sep, name, key, mask);
	*sep = ",";
}

static void qtn_render_keys(struct qtn_jbuf *b, struct flow_rule *rule)
{
	const char *sep = "";
	u16 addr_type = 0;

	jb(b, "{");
	/* The IPv4 and IPv6 address keys share storage: addr_type says which. */
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_CONTROL)) {
		struct flow_match_control m;

		flow_rule_match_control(rule, &m);
		addr_type = m.key->addr_type;
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_BASIC)) {
		struct flow_match_basic m;

		flow_rule_match_basic(rule, &m);
		qtn_key_u(b, &sep, "eth_type", ntohs(m.key->n_proto), ntohs(m.mask->n_proto));
		qtn_key_u(b, &sep, "ip_proto", m.key->ip_proto, m.mask->ip_proto);
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_ETH_ADDRS)) {
		struct flow_match_eth_addrs m;

		flow_rule_match_eth_addrs(rule, &m);
		if (!is_zero_ether_addr(m.mask->dst)) {
			jb(b, "%s\"dst_mac\":{\"value\":\"%pM\",\"mask\":\"%pM\"}", sep,
			   m.key->dst, m.mask->dst);
			sep = ",";
		}
		if (!is_zero_ether_addr(m.mask->src)) {
			jb(b, "%s\"src_mac\":{\"value\":\"%pM\",\"mask\":\"%pM\"}", sep,
			   m.key->src, m.mask->src);
			sep = ",";
		}
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_VLAN)) {
		struct flow_match_vlan m;

		flow_rule_match_vlan(rule, &m);
		qtn_key_u(b, &sep, "vlan_id", m.key->vlan_id, m.mask->vlan_id);
		qtn_key_u(b, &sep, "vlan_prio", m.key->vlan_priority, m.mask->vlan_priority);
		qtn_key_u(b, &sep, "vlan_tpid", ntohs(m.key->vlan_tpid), ntohs(m.mask->vlan_tpid));
	}
	if (addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS &&
	    flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_IPV4_ADDRS)) {
		struct flow_match_ipv4_addrs m;

		flow_rule_match_ipv4_addrs(rule, &m);
		if (m.mask->src) {
			jb(b, "%s\"src_ip\":{\"value\":\"%pI4\",\"mask\":\"%pI4\"}", sep,
			   &m.key->src, &m.mask->src);
			sep = ",";
		}
		if (m.mask->dst) {
			jb(b, "%s\"dst_ip\":{\"value\":\"%pI4\",\"mask\":\"%pI4\"}", sep,
			   &m.key->dst, &m.mask->dst);
			sep = ",";
		}
	}
	if (addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS &&
	    flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_IPV6_ADDRS)) {
		struct flow_match_ipv6_addrs m;

		flow_rule_match_ipv6_addrs(rule, &m);
		if (!ipv6_addr_any(&m.mask->src)) {
			jb(b, "%s\"src_ip\":{\"value\":\"%pI6c\",\"mask\":\"%pI6c\"}", sep,
			   &m.key->src, &m.mask->src);
			sep = ",";
		}
		if (!ipv6_addr_any(&m.mask->dst)) {
			jb(b, "%s\"dst_ip\":{\"value\":\"%pI6c\",\"mask\":\"%pI6c\"}", sep,
			   &m.key->dst, &m.mask->dst);
			sep = ",";
		}
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_PORTS)) {
		struct flow_match_ports m;

		flow_rule_match_ports(rule, &m);
		qtn_key_u(b, &sep, "src_port", ntohs(m.key->src), ntohs(m.mask->src));
		qtn_key_u(b, &sep, "dst_port", ntohs(m.key->dst), ntohs(m.mask->dst));
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_IP)) {
		struct flow_match_ip m;

		flow_rule_match_ip(rule, &m);
		qtn_key_u(b, &sep, "ip_tos", m.key->tos, m.mask->tos);
		qtn_key_u(b, &sep, "ip_ttl", m.key->ttl, m.mask->ttl);
	}
	jb(b, "%s\"used_keys\":%u}", sep, (unsigned int)rule->match.dissector->used_keys);
}

static void qtn_render_action(struct qtn_jbuf *b, const struct flow_action_entry *a)
{
	jb(b, "{\"id\":\"%s\"", qtn_act_name(a->id));
	switch (a->id) {
	case FLOW_ACTION_GOTO:
		jb(b, ",\"chain\":%u", a->chain_index);
		break;
	case FLOW_ACTION_REDIRECT:
	case FLOW_ACTION_MIRRED:
	case FLOW_ACTION_REDIRECT_INGRESS:
	case FLOW_ACTION_MIRRED_INGRESS:
		jb(b, ",\"dev\":\"%s\"", a->dev ? a->dev->name : "");
		break;
	case FLOW_ACTION_VLAN_PUSH:
	case FLOW_ACTION_VLAN_MANGLE:
		jb(b, ",\"vid\":%u,\"prio\":%u,\"proto\":%u", a->vlan.vid,
		   a->vlan.prio, ntohs(a->vlan.proto));
		break;
	case FLOW_ACTION_MANGLE:
	case FLOW_ACTION_ADD:
		jb(b, ",\"cmd\":\"%s\",\"htype\":\"%s\",\"offset\":%u,\"mask\":%u,\"val\":%u",
		   a->id == FLOW_ACTION_ADD ? "add" : "set",
		   qtn_htype_name(a->mangle.htype), a->mangle.offset,
		   a->mangle.mask, a->mangle.val);
		break;
	case FLOW_ACTION_CSUM:
		jb(b, ",\"flags\":%u", a->csum_flags);
		break;
	case FLOW_ACTION_MARK:
		jb(b, ",\"mark\":%u", a->mark);
		break;
	case FLOW_ACTION_PRIORITY:
		jb(b, ",\"priority\":%u", a->priority);
		break;
	case FLOW_ACTION_POLICE:
		jb(b, ",\"index\":%u,\"rate_bytes_ps\":%llu,\"burst\":%u,"
		   "\"peakrate_bytes_ps\":%llu,\"avrate\":%u,\"overhead\":%u,"
		   "\"rate_pkt_ps\":%llu,\"burst_pkt\":%llu,\"mtu\":%u,"
		   "\"exceed\":\"%s\",\"notexceed\":\"%s\"",
		   a->hw_index, a->police.rate_bytes_ps, a->police.burst,
		   a->police.peakrate_bytes_ps, a->police.avrate,
		   a->police.overhead, a->police.rate_pkt_ps,
		   a->police.burst_pkt, a->police.mtu,
		   qtn_act_name(a->police.exceed.act_id),
		   qtn_act_name(a->police.notexceed.act_id));
		break;
	default:
		break;
	}
	jb(b, "}");
}

static char *qtn_render_rule(struct flow_cls_offload *f, bool egress, int hwtc)
{
	struct flow_rule *rule = f->rule;
	const struct flow_action_entry *a;
	struct qtn_jbuf b = { .cap = QTN_RULE_JSON_MAX };
	const char *sep = "";
	int i;

	b.s = kmalloc(b.cap, GFP_KERNEL);
	if (!b.s)
		return NULL;
	b.s[0] = 0;
	jb(&b, "{\"cookie\":\"%lx\",\"prio\":%u,\"chain\":%u,\"dir\":\"%s\",\"proto\":%u,\"classid\":%u,\"keys\":",
	   f->cookie, f->common.prio, f->common.chain_index,
	   egress ? "egress" : "ingress", ntohs(f->common.protocol), f->classid);
	qtn_render_keys(&b, rule);
	jb(&b, ",\"actions\":[");
	if (hwtc >= 0) {
		jb(&b, "{\"id\":\"hwtc\",\"tc\":%d}", hwtc);
		sep = ",";
	}
	flow_action_for_each(i, a, &rule->action) {
		jb(&b, "%s", sep);
		qtn_render_action(&b, a);
		sep = ",";
	}
	jb(&b, "]}");
	if (b.over) {
		kfree(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- validation ---- */

static bool qtn_is_qtn_dev(const struct net_device *dev)
{
	return dev && dev->netdev_ops == &qtn_netdev_ops;
}

static int qtn_check_police(struct qtn_priv *p, struct netlink_ext_ack *extack,
			    const struct flow_action_entry *a)
{
	enum flow_action_id c = a->police.notexceed.act_id;
	enum flow_action_id e = a->police.exceed.act_id;
	char d[96];

	if (a->police.peakrate_bytes_ps || a->police.avrate || a->police.overhead) {
		snprintf(d, sizeof(d), "peakrate %llu bytes/s, avrate %u, overhead %u",
			 a->police.peakrate_bytes_ps, a->police.avrate, a->police.overhead);
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "Offload not supported when peakrate/avrate/overhead is configured", d);
	}
	if (a->police.rate_pkt_ps)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "QoS offload not support packets per second", NULL);
	if (c != FLOW_ACTION_PIPE && c != FLOW_ACTION_ACCEPT &&
	    c != FLOW_ACTION_JUMP && c != FLOW_ACTION_DROP)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "Offload not supported when conform action is not pipe, ok, jump or drop",
				  qtn_act_name(c));
	if (e != FLOW_ACTION_PIPE && e != FLOW_ACTION_ACCEPT &&
	    e != FLOW_ACTION_JUMP && e != FLOW_ACTION_DROP)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "Offload not supported when exceed action is not pipe, ok, jump or drop",
				  qtn_act_name(e));
	return 0;
}

static int qtn_check_mangle(struct qtn_priv *p, struct netlink_ext_ack *extack,
			    const struct flow_action_entry *a)
{
	if (a->mangle.htype == FLOW_ACT_MANGLE_UNSPEC)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "legacy pedit isn't offloaded", NULL);
	return 0;
}

/* mlx5 NIC mode: accept, drop, goto, redirect, pedit, csum, mark. */
static int qtn_check_mlx5_nic(struct qtn_priv *p, struct flow_cls_offload *f)
{
	struct netlink_ext_ack *extack = f->common.extack;
	const struct flow_action_entry *a;
	int i, err;

	if (f->classid)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "hw_tc (classid) is not supported", NULL);
	flow_action_for_each(i, a, &f->rule->action) {
		switch (a->id) {
		case FLOW_ACTION_ACCEPT:
		case FLOW_ACTION_DROP:
		case FLOW_ACTION_GOTO:
		case FLOW_ACTION_CSUM:
		case FLOW_ACTION_MARK:
			break;
		case FLOW_ACTION_MANGLE:
		case FLOW_ACTION_ADD:
			err = qtn_check_mangle(p, extack, a);
			if (err)
				return err;
			break;
		case FLOW_ACTION_REDIRECT:
			if (!qtn_is_qtn_dev(a->dev))
				return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
						  "devices are not on same switch HW, can't offload forwarding",
						  a->dev ? a->dev->name : NULL);
			break;
		default:
			return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
					  "Not implemented offload action", qtn_act_name(a->id));
		}
	}
	return 0;
}

/* mlx5 switchdev (representors and uplink). */
static int qtn_check_mlx5_switchdev(struct qtn_priv *p, struct flow_cls_offload *f)
{
	struct netlink_ext_ack *extack = f->common.extack;
	const struct flow_action_entry *a;
	int i, err;

	if (f->classid)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "hw_tc (classid) is not supported", NULL);
	flow_action_for_each(i, a, &f->rule->action) {
		switch (a->id) {
		case FLOW_ACTION_ACCEPT:
		case FLOW_ACTION_DROP:
		case FLOW_ACTION_GOTO:
		case FLOW_ACTION_CSUM:
		case FLOW_ACTION_PRIORITY:
		case FLOW_ACTION_VLAN_PUSH:
		case FLOW_ACTION_VLAN_POP:
			break;
		case FLOW_ACTION_VLAN_MANGLE:
			if (f->common.protocol != htons(ETH_P_8021Q) &&
			    f->common.protocol != htons(ETH_P_8021AD) &&
			    !flow_rule_match_key(f->rule, FLOW_DISSECTOR_KEY_VLAN))
				return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
						  "VLAN rewrite action must have VLAN protocol match", NULL);
			break;
		case FLOW_ACTION_MANGLE:
		case FLOW_ACTION_ADD:
			err = qtn_check_mangle(p, extack, a);
			if (err)
				return err;
			break;
		case FLOW_ACTION_POLICE:
			err = qtn_check_police(p, extack, a);
			if (err)
				return err;
			break;
		case FLOW_ACTION_REDIRECT:
		case FLOW_ACTION_MIRRED:
			if (!qtn_is_qtn_dev(a->dev))
				return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
						  "devices are not on same switch HW, can't offload forwarding",
						  a->dev ? a->dev->name : NULL);
			break;
		default:
			return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
					  "Not implemented offload action", qtn_act_name(a->id));
		}
	}
	return 0;
}

/*
 * ice: chain 0 only; hw_tc (classid) to an existing TC >= 1, drop. The flower
 * classid of `hw_tc N` is TC_H_MAKE(major, TC_H_MIN_PRIORITY + N); the TC is
 * TC_H_MIN(classid) - TC_H_MIN_PRIORITY and must be below the device's num_tc.
 * Sets *hwtc to the TC or -1.
 */
static int qtn_check_ice(struct qtn_priv *p, struct flow_cls_offload *f, int *hwtc)
{
	struct netlink_ext_ack *extack = f->common.extack;
	const struct flow_action_entry *a;
	int i;

	*hwtc = -1;
	if (f->common.chain_index)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "Driver supports only offload of chain 0", NULL);
	if (f->classid) {
		u32 min = TC_H_MIN(f->classid);
		char d[48];

		snprintf(d, sizeof(d), "classid 0x%x", f->classid);
		if (min < TC_H_MIN_PRIORITY ||
		    min - TC_H_MIN_PRIORITY >= netdev_get_num_tc(p->dev))
			return QTN_REFUSE(p, extack, OP, -EINVAL,
					  "Unable to add filter because specified destination is invalid", d);
		if (min == TC_H_MIN_PRIORITY)
			return QTN_REFUSE(p, extack, OP, -EINVAL,
					  "Unable to add filter because of invalid destination", d);
		*hwtc = min - TC_H_MIN_PRIORITY;
		return 0;
	}
	if (!flow_action_has_entries(&f->rule->action))
		return QTN_REFUSE(p, extack, OP, -EINVAL,
				  "Must provide at least one action", NULL);
	flow_action_for_each(i, a, &f->rule->action) {
		if (a->id != FLOW_ACTION_DROP)
			return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
					  "Unsupported action to add filter", qtn_act_name(a->id));
	}
	return 0;
}

/*
 * i40e (6.1): i40e_configure_clsflower (hw_tc >= 1 of an enabled TC),
 * i40e_parse_cls_flower (keys, whole-field masks, TCP or UDP with ports),
 * i40e_handle_tclass (a dst port for TC >= 1) and
 * i40e_add_del_cloud_filter_big_buf (no UDP, no src port or src IP, a dst
 * IP). The driver looks at no action: the TC comes from the classid.
 */
static int qtn_check_i40e(struct qtn_priv *p, struct flow_cls_offload *f, int *hwtc)
{
	struct netlink_ext_ack *extack = f->common.extack;
	struct flow_rule *rule = flow_cls_offload_flow_rule(f);
	u16 addr_type = 0;
	bool dst_ip = false, src_ip = false;
	__be16 dst_port = 0, src_port = 0;
	u8 ip_proto = 0;
	u32 min;
	char d[64];

	*hwtc = -1;
	min = TC_H_MIN(f->classid);
	/* tc_classid_to_hwtc: -EINVAL at or above num_tc. */
	if (min < TC_H_MIN_PRIORITY || min - TC_H_MIN_PRIORITY >= netdev_get_num_tc(p->dev))
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP, "Invalid traffic class", NULL);
	if (min == TC_H_MIN_PRIORITY)
		return QTN_REFUSE(p, extack, OP, -EINVAL,
				  "Unable to add filter because of invalid destination", NULL);
	if (rule->match.dissector->used_keys &
	    ~(BIT(FLOW_DISSECTOR_KEY_CONTROL) | BIT(FLOW_DISSECTOR_KEY_BASIC) |
	      BIT(FLOW_DISSECTOR_KEY_ETH_ADDRS) | BIT(FLOW_DISSECTOR_KEY_VLAN) |
	      BIT(FLOW_DISSECTOR_KEY_IPV4_ADDRS) | BIT(FLOW_DISSECTOR_KEY_IPV6_ADDRS) |
	      BIT(FLOW_DISSECTOR_KEY_PORTS) | BIT(FLOW_DISSECTOR_KEY_ENC_KEYID))) {
		snprintf(d, sizeof(d), "used_keys %#x", rule->match.dissector->used_keys);
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP, "Unsupported key used", d);
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_BASIC)) {
		struct flow_match_basic m;

		flow_rule_match_basic(rule, &m);
		ip_proto = m.key->ip_proto;
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_CONTROL)) {
		struct flow_match_control m;

		flow_rule_match_control(rule, &m);
		addr_type = m.key->addr_type;
	}
	if (addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS) {
		struct flow_match_ipv4_addrs m;

		flow_rule_match_ipv4_addrs(rule, &m);
		if ((m.mask->dst && m.mask->dst != htonl(0xffffffff)) ||
		    (m.mask->src && m.mask->src != htonl(0xffffffff)))
			return QTN_REFUSE(p, extack, OP, -EINVAL, "Bad ip dst/src mask", NULL);
		dst_ip = m.key->dst != 0;
		src_ip = m.key->src != 0;
	}
	if (addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS) {
		struct flow_match_ipv6_addrs m;

		flow_rule_match_ipv6_addrs(rule, &m);
		if (ipv6_addr_loopback(&m.key->dst) || ipv6_addr_loopback(&m.key->src))
			return QTN_REFUSE(p, extack, OP, -EINVAL, "Bad ipv6, addr is LOOPBACK", NULL);
		dst_ip = !ipv6_addr_any(&m.key->dst);
		src_ip = !ipv6_addr_any(&m.key->src);
	}
	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_PORTS)) {
		struct flow_match_ports m;

		flow_rule_match_ports(rule, &m);
		if ((m.mask->src && m.mask->src != htons(0xffff)) ||
		    (m.mask->dst && m.mask->dst != htons(0xffff)))
			return QTN_REFUSE(p, extack, OP, -EINVAL, "Bad src/dst port mask", NULL);
		dst_port = m.key->dst;
		src_port = m.key->src;
		if (ip_proto != IPPROTO_TCP && ip_proto != IPPROTO_UDP)
			return QTN_REFUSE(p, extack, OP, -EINVAL,
					  "Only UDP and TCP transport are supported", NULL);
	}
	if (!dst_port)
		return QTN_REFUSE(p, extack, OP, -EINVAL,
				  "Specify destination port to direct to traffic class that is not default", NULL);
	/* i40e_add_del_cloud_filter_big_buf */
	if (ip_proto == IPPROTO_UDP)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "big buffer cloud filter: UDP ports are not supported", NULL);
	if (src_port || src_ip)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "adding filter using src_port/src_ip is not supported", NULL);
	if (!dst_ip)
		return QTN_REFUSE(p, extack, OP, -EINVAL,
				  "either mac or ip has to be valid for cloud filter", NULL);
	*hwtc = min - TC_H_MIN_PRIORITY;
	return 0;
}

/* ---- commands ---- */

static struct qtn_rule *qtn_find(struct qtn_priv *p, unsigned long cookie)
{
	struct qtn_rule *r;

	list_for_each_entry(r, &p->rules, list)
		if (r->cookie == cookie)
			return r;
	return NULL;
}

static int qtn_flower_replace(struct qtn_priv *p, struct flow_cls_offload *f,
			      bool egress)
{
	struct netlink_ext_ack *extack = f->common.extack;
	struct qtn_rule *r, *old;
	int hwtc = -1, err;
	char *json;

	if (!(p->dev->features & NETIF_F_HW_TC)) {
		if (p->profile == QTN_PROFILE_ICE)
			return QTN_REFUSE(p, extack, OP, -EINVAL,
					  "can't apply TC flower filters, turn ON hw-tc-offload and try again", NULL);
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "TC offload is disabled on net device", NULL);
	}
	if (egress)
		return QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				  "flower offload on egress is not supported", NULL);
	switch (p->profile) {
	case QTN_PROFILE_MLX5:
		err = qtn_check_mlx5_nic(p, f);
		break;
	case QTN_PROFILE_ICE:
		err = qtn_check_ice(p, f, &hwtc);
		break;
	case QTN_PROFILE_MLX5_SWITCHDEV:
		err = qtn_check_mlx5_switchdev(p, f);
		break;
	case QTN_PROFILE_I40E:
		err = qtn_check_i40e(p, f, &hwtc);
		break;
	case QTN_PROFILE_BNXT:
		/* bnxt_tc_parse_actions: no hw_tc, skbedit, pedit+csum or
		 * police; qosplane plans no flower rule in hardware here. */
		err = QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				 "bnxt: no flower offload of these actions", NULL);
		break;
	case QTN_PROFILE_CXGB4:
		err = QTN_REFUSE(p, extack, OP, -EOPNOTSUPP,
				 "cxgb4_validate_flow_actions: Unsupported action", NULL);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	if (err)
		return err;
	if (qtn_should_fail())
		return QTN_REFUSE(p, extack, OP, -EIO, "injected failure", NULL);

	json = qtn_render_rule(f, egress, hwtc);
	if (!json)
		return QTN_REFUSE(p, extack, OP, -ENOMEM,
				  "cannot record the rule (too large)", NULL);
	old = qtn_find(p, f->cookie);
	if (old) {
		kfree(old->json);
		old->json = json;
		old->egress = egress;
		return 0;
	}
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r) {
		kfree(json);
		return -ENOMEM;
	}
	r->cookie = f->cookie;
	r->egress = egress;
	r->json = json;
	list_add_tail(&r->list, &p->rules);
	p->nrules++;
	return 0;
}

static int qtn_flower(struct qtn_priv *p, struct flow_cls_offload *f, bool egress)
{
	struct qtn_rule *r;
	int err = 0;

	mutex_lock(&p->lock);
	switch (f->command) {
	case FLOW_CLS_REPLACE:
		err = qtn_flower_replace(p, f, egress);
		break;
	case FLOW_CLS_DESTROY:
		r = qtn_find(p, f->cookie);
		if (r) {
			list_del(&r->list);
			p->nrules--;
			kfree(r->json);
			kfree(r);
		}
		break;
	case FLOW_CLS_STATS:
		/* The test NIC passes no traffic: counters stay zero. */
		if (qtn_find(p, f->cookie))
			flow_stats_update(&f->stats, 0, 0, 0, 0,
					  FLOW_ACTION_HW_STATS_DELAYED);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&p->lock);
	return err;
}

static int qtn_ingress_cb(enum tc_setup_type type, void *type_data, void *cb_priv)
{
	if (type != TC_SETUP_CLSFLOWER)
		return -EOPNOTSUPP;
	return qtn_flower(cb_priv, type_data, false);
}

static int qtn_egress_cb(enum tc_setup_type type, void *type_data, void *cb_priv)
{
	if (type != TC_SETUP_CLSFLOWER)
		return -EOPNOTSUPP;
	return qtn_flower(cb_priv, type_data, true);
}

/*
 * Ingress and egress blocks bind with distinct callbacks, cb_idents and
 * driver lists: one identity for both would make the second bind busy.
 */
int qtn_setup_block(struct qtn_priv *p, struct flow_block_offload *f)
{
	f->unlocked_driver_cb = false;
	switch (f->binder_type) {
	case FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS:
		return flow_block_cb_setup_simple(f, &p->ingress_cb_list,
						  qtn_ingress_cb, &p->ingress_ident,
						  p, true);
	case FLOW_BLOCK_BINDER_TYPE_CLSACT_EGRESS:
		/* i40e and bnxt bind ingress blocks only (ingress_only). */
		if (p->profile == QTN_PROFILE_I40E || p->profile == QTN_PROFILE_BNXT)
			return -EOPNOTSUPP;
		return flow_block_cb_setup_simple(f, &p->egress_cb_list,
						  qtn_egress_cb, &p->egress_ident,
						  p, false);
	default:
		return -EOPNOTSUPP;
	}
}

void qtn_flower_free_all(struct qtn_priv *p)
{
	struct qtn_rule *r, *n;

	mutex_lock(&p->lock);
	list_for_each_entry_safe(r, n, &p->rules, list) {
		list_del(&r->list);
		kfree(r->json);
		kfree(r);
	}
	p->nrules = 0;
	mutex_unlock(&p->lock);
}
