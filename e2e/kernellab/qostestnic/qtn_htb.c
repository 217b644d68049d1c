// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: offloaded HTB (TC_SETUP_QDISC_HTB) on the netdevs created with
 * HTB support (qtn4, mlx5 NIC mode), following mlx5e_htb_setup_tc
 * (drivers/net/ethernet/mellanox/mlx5/core/en/qos.c) and en/htb.c of Linux
 * 6.1:
 *
 *   TC_HTB_CREATE             mlx5e_htb_init / mlx5e_htb_root_add: a root node
 *                             (classid TC_HTB_CLASSID_ROOT); refused (-EINVAL,
 *                             mlx5e_setup_tc_mqprio's mutual exclusion) while
 *                             an mqprio is offloaded
 *   any other command without a root: -EINVAL
 *   TC_HTB_LEAF_ALLOC_QUEUE   mlx5e_htb_leaf_alloc_queue: the first unused QoS
 *                             queue (-ENOSPC "Maximum amount of leaf classes
 *                             is reached." after QTN_HTB_MAX_LEAVES; mlx5 has
 *                             up to 256), -EINVAL for an unknown parent; the
 *                             qid is channels + QoS index (mlx5e_qid_from_qos)
 *   TC_HTB_LEAF_TO_INNER      mlx5e_htb_leaf_to_inner: the leaf becomes an
 *                             inner node, its queue goes to the new child
 *   TC_HTB_LEAF_DEL           mlx5e_htb_leaf_del (no queue moves here: the
 *                             classid comes back unchanged)
 *   TC_HTB_LEAF_DEL_LAST(_FORCE)  mlx5e_htb_leaf_del_last: the parent becomes
 *                             a leaf again with the child's queue
 *   TC_HTB_NODE_MODIFY        mlx5e_htb_node_modify
 *   TC_HTB_LEAF_QUERY_QUEUE   mlx5e_htb_get_txq_by_classid
 *   TC_HTB_DESTROY            mlx5e_htb_cleanup
 *   unknown node: -ENOENT
 *
 * Rates arrive in bytes/s. Like mlx5e_htb_convert_ceil and
 * mlx5e_htb_convert_rate, a node holds max_average_bw = ceil in Mbit/s
 * (rounded down, at least 1: 0 is "unlimited" to the hardware) and bw_share =
 * rate * 100 / the nearest ancestor's max_average_bw (1..100, 0 when above
 * 100 or no ancestor has a ceil). The kernel itself (sch_htb.c
 * htb_change_class) refuses quantum, prio, overhead and mpu on offloaded
 * classes before the driver sees them. fail_nth counts CREATE, LEAF_ALLOC_QUEUE,
 * LEAF_TO_INNER and NODE_MODIFY.
 */
#include <linux/seq_file.h>

#include "qtn.h"

#define BYTES_IN_MBIT 125000ULL

static struct qtn_htb_node *qtn_htb_find(struct qtn_priv *p, u32 classid)
{
	int i;

	for (i = 0; i < QTN_HTB_MAX_NODES; i++)
		if (p->htb.nodes[i].used && p->htb.nodes[i].classid == classid)
			return &p->htb.nodes[i];
	return NULL;
}

static struct qtn_htb_node *qtn_htb_new(struct qtn_priv *p)
{
	int i;

	for (i = 0; i < QTN_HTB_MAX_NODES; i++)
		if (!p->htb.nodes[i].used) {
			memset(&p->htb.nodes[i], 0, sizeof(p->htb.nodes[i]));
			p->htb.nodes[i].used = true;
			return &p->htb.nodes[i];
		}
	return NULL;
}

/* mlx5e_htb_convert_rate and mlx5e_htb_convert_ceil. */
static void qtn_htb_set_rates(struct qtn_priv *p, struct qtn_htb_node *n, u64 rate, u64 ceil)
{
	struct qtn_htb_node *anc = qtn_htb_find(p, n->parent);
	u64 share = 101;

	while (anc && anc->classid != TC_HTB_CLASSID_ROOT && !anc->max_average_bw)
		anc = qtn_htb_find(p, anc->parent);
	if (anc && anc->max_average_bw)
		share = div64_u64(div_u64(rate * 100, BYTES_IN_MBIT), anc->max_average_bw);
	n->bw_share = share == 0 ? 1 : share > 100 ? 0 : share;
	n->max_average_bw = max_t(u32, div_u64(ceil, BYTES_IN_MBIT), 1);
	n->rate = rate;
	n->ceil = ceil;
}

static int qtn_htb_unused_qid(struct qtn_priv *p)
{
	bool used[QTN_HTB_MAX_LEAVES] = {};
	int i;

	for (i = 0; i < QTN_HTB_MAX_NODES; i++)
		if (p->htb.nodes[i].used && p->htb.nodes[i].qid >= 0)
			used[p->htb.nodes[i].qid] = true;
	for (i = 0; i < QTN_HTB_MAX_LEAVES; i++)
		if (!used[i])
			return i;
	return -ENOSPC;
}

static int qtn_htb_fail(struct qtn_priv *p, struct tc_htb_qopt_offload *o)
{
	if (!qtn_should_fail())
		return 0;
	return QTN_REFUSE(p, o->extack, "htb", -EIO, "injected failure", NULL);
}

static int qtn_htb_cmd(struct qtn_priv *p, struct tc_htb_qopt_offload *o)
{
	struct qtn_htb_node *n, *c;
	int qid, err;

	if (!p->htb.active && o->command != TC_HTB_CREATE)
		return -EINVAL;
	switch (o->command) {
	case TC_HTB_CREATE:
		if (p->mqprio.active)
			return QTN_REFUSE(p, o->extack, "htb", -EINVAL,
					  "HTB offload and an offloaded mqprio are mutually exclusive", NULL);
		err = qtn_htb_fail(p, o);
		if (err)
			return err;
		memset(&p->htb, 0, sizeof(p->htb));
		p->htb.active = true;
		p->htb.maj = o->parent_classid;
		p->htb.defcls = o->classid;
		n = qtn_htb_new(p);
		n->classid = TC_HTB_CLASSID_ROOT;
		n->parent = TC_HTB_CLASSID_ROOT;
		n->qid = -1;
		return 0;
	case TC_HTB_DESTROY:
		memset(&p->htb, 0, sizeof(p->htb));
		return 0;
	case TC_HTB_LEAF_ALLOC_QUEUE:
		qid = qtn_htb_unused_qid(p);
		if (qid < 0)
			return QTN_REFUSE(p, o->extack, "htb", qid,
					  "Maximum amount of leaf classes is reached.", NULL);
		if (!qtn_htb_find(p, o->parent_classid))
			return -EINVAL;
		err = qtn_htb_fail(p, o);
		if (err)
			return err;
		n = qtn_htb_new(p);
		if (!n)
			return -ENOSPC;
		n->classid = o->classid;
		n->parent = o->parent_classid;
		n->qid = qid;
		qtn_htb_set_rates(p, n, o->rate, o->ceil);
		o->qid = p->channels + qid;
		return 0;
	case TC_HTB_LEAF_TO_INNER:
		n = qtn_htb_find(p, o->parent_classid);
		if (!n || n->qid < 0)
			return -ENOENT;
		err = qtn_htb_fail(p, o);
		if (err)
			return err;
		c = qtn_htb_new(p);
		if (!c)
			return -ENOSPC;
		c->classid = o->classid;
		c->parent = n->classid;
		c->qid = n->qid;
		n->qid = -1;
		qtn_htb_set_rates(p, c, o->rate, o->ceil);
		return 0;
	case TC_HTB_LEAF_DEL:
		n = qtn_htb_find(p, o->classid);
		if (!n || n->qid < 0)
			return -ENOENT;
		n->used = false;
		return 0;
	case TC_HTB_LEAF_DEL_LAST:
	case TC_HTB_LEAF_DEL_LAST_FORCE:
		n = qtn_htb_find(p, o->classid);
		if (!n || n->qid < 0)
			return -ENOENT;
		c = qtn_htb_find(p, n->parent);
		if (c && c->classid != TC_HTB_CLASSID_ROOT)
			c->qid = n->qid;
		n->used = false;
		return 0;
	case TC_HTB_NODE_MODIFY:
		n = qtn_htb_find(p, o->classid);
		if (!n)
			return -ENOENT;
		err = qtn_htb_fail(p, o);
		if (err)
			return err;
		qtn_htb_set_rates(p, n, o->rate, o->ceil);
		return 0;
	case TC_HTB_LEAF_QUERY_QUEUE:
		n = qtn_htb_find(p, o->classid);
		if (!n || n->qid < 0)
			return -ENOENT;
		o->qid = p->channels + n->qid;
		return 0;
	}
	return -EOPNOTSUPP;
}

int qtn_setup_htb(struct qtn_priv *p, struct tc_htb_qopt_offload *o)
{
	int err;

	if (!p->htb_capable)
		return -EOPNOTSUPP;
	mutex_lock(&p->lock);
	err = qtn_htb_cmd(p, o);
	mutex_unlock(&p->lock);
	return err;
}

/* {"handle":1,"defcls":16,"nodes":[{"classid":1,"parent":65535|4294967295,
 * "qid":-1|N,"rate":bytes/s,"ceil":bytes/s,"bw_share":N,"max_average_bw":Mbit/s}]}
 * (the root node is classid 4294967295, TC_HTB_CLASSID_ROOT); null when no
 * HTB is offloaded. */
void qtn_htb_show(struct seq_file *s, struct qtn_priv *p)
{
	const char *sep = "";
	int i;

	if (!p->htb.active) {
		seq_puts(s, "null");
		return;
	}
	seq_printf(s, "{\"handle\":%u,\"defcls\":%u,\"nodes\":[", p->htb.maj, p->htb.defcls);
	for (i = 0; i < QTN_HTB_MAX_NODES; i++) {
		const struct qtn_htb_node *n = &p->htb.nodes[i];

		if (!n->used)
			continue;
		seq_printf(s, "%s{\"classid\":%u,\"parent\":%u,\"qid\":%d,\"rate\":%llu,\"ceil\":%llu,"
			   "\"bw_share\":%u,\"max_average_bw\":%u}", sep, n->classid, n->parent,
			   n->qid < 0 ? -1 : (int)(p->channels + n->qid), n->rate, n->ceil,
			   n->bw_share, n->max_average_bw);
		sep = ",";
	}
	seq_puts(s, "]}");
}
