// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: /sys/kernel/debug/qostestnic/<ifname>/state, one JSON object
 * with what the device holds (format: e2e/kernellab/README.md).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "qtn.h"

static void qtn_arr_u64(struct seq_file *s, const char *name, const u64 *v, int n)
{
	int i;

	seq_printf(s, "\"%s\":[", name);
	for (i = 0; i < n; i++)
		seq_printf(s, "%s%llu", i ? "," : "", v[i]);
	seq_puts(s, "]");
}

static void qtn_arr_u16(struct seq_file *s, const char *name, const u16 *v, int n)
{
	int i;

	seq_printf(s, "\"%s\":[", name);
	for (i = 0; i < n; i++)
		seq_printf(s, "%s%u", i ? "," : "", v[i]);
	seq_puts(s, "]");
}

static void qtn_arr_u8(struct seq_file *s, const char *name, const u8 *v, int n)
{
	int i;

	seq_printf(s, "\"%s\":[", name);
	for (i = 0; i < n; i++)
		seq_printf(s, "%s%u", i ? "," : "", v[i]);
	seq_puts(s, "]");
}

static void qtn_show_mqprio(struct seq_file *s, const struct qtn_mqprio *m)
{
	if (!m->active) {
		seq_puts(s, "null");
		return;
	}
	seq_printf(s, "{\"num_tc\":%u,", m->num_tc);
	qtn_arr_u8(s, "prio_tc_map", m->prio_tc_map, TC_QOPT_BITMASK + 1);
	seq_puts(s, ",");
	qtn_arr_u16(s, "count", m->count, m->num_tc);
	seq_puts(s, ",");
	qtn_arr_u16(s, "offset", m->offset, m->num_tc);
	seq_puts(s, ",");
	qtn_arr_u64(s, "min_rate", m->min_rate, m->num_tc);
	seq_puts(s, ",");
	qtn_arr_u64(s, "max_rate", m->max_rate, m->num_tc);
	seq_printf(s, ",\"mode\":\"%s\",\"shaper\":\"%s\",\"flags\":%u}",
		   m->mode == TC_MQPRIO_MODE_CHANNEL ? "channel" : "dcb",
		   m->shaper == TC_MQPRIO_SHAPER_BW_RATE ? "bw_rlimit" : "dcb",
		   m->flags);
}

static void qtn_show_dcb(struct seq_file *s, const struct qtn_priv *p)
{
	const struct qtn_dcb *d = &p->dcb;
	int i;

	if (p->rep_index >= 0) {
		seq_puts(s, "null");
		return;
	}
	seq_puts(s, "{\"ets\":");
	if (d->ets_set) {
		seq_puts(s, "{");
		qtn_arr_u8(s, "prio_tc", d->ets.prio_tc, IEEE_8021QAZ_MAX_TCS);
		seq_puts(s, ",");
		qtn_arr_u8(s, "tc_tsa", d->ets.tc_tsa, IEEE_8021QAZ_MAX_TCS);
		seq_puts(s, ",");
		qtn_arr_u8(s, "tc_tx_bw", d->ets.tc_tx_bw, IEEE_8021QAZ_MAX_TCS);
		seq_puts(s, "}");
	} else {
		seq_puts(s, "null");
	}
	seq_puts(s, ",\"maxrate_kbps\":");
	if (d->maxrate_set) {
		seq_puts(s, "[");
		for (i = 0; i < IEEE_8021QAZ_MAX_TCS; i++)
			seq_printf(s, "%s%llu", i ? "," : "", d->maxrate.tc_maxrate[i]);
		seq_puts(s, "]");
	} else {
		seq_puts(s, "null");
	}
	seq_puts(s, ",\"pfc\":");
	if (d->pfc_set)
		seq_printf(s, "{\"pfc_en\":%u,\"mbc\":%u,\"delay\":%u}",
			   d->pfc.pfc_en, d->pfc.mbc, d->pfc.delay);
	else
		seq_puts(s, "null");
	seq_puts(s, ",\"app\":[");
	for (i = 0; i < d->napps; i++)
		seq_printf(s, "%s{\"selector\":%u,\"protocol\":%u,\"priority\":%u}",
			   i ? "," : "", d->apps[i].selector, d->apps[i].protocol,
			   d->apps[i].priority);
	seq_puts(s, "]}");
}

static int qtn_state_show(struct seq_file *s, void *unused)
{
	struct qtn_priv *p = s->private;
	struct qtn_rule *r;
	const char *sep = "";
	int i;

	mutex_lock(&p->lock);
	seq_printf(s, "{\"ifname\":\"%s\",\"profile\":\"%s\",\"driver\":\"%s\",\"representor\":%s,",
		   netdev_name(p->dev), qtn_profile_name(p->profile),
		   qtn_driver_name(p), p->rep_index >= 0 ? "true" : "false");
	seq_printf(s, "\"hw_tc_offload\":%s,\"channels\":%u,\"num_tc\":%d,\"mqprio\":",
		   (p->dev->features & NETIF_F_HW_TC) ? "true" : "false",
		   p->channels, netdev_get_num_tc(p->dev));
	qtn_show_mqprio(s, &p->mqprio);
	seq_puts(s, ",\"flower\":[");
	list_for_each_entry(r, &p->rules, list) {
		seq_printf(s, "%s%s", sep, r->json);
		sep = ",";
	}
	seq_printf(s, "],\"ntuple_on\":%s,\"ntuple\":",
		   (p->dev->features & NETIF_F_NTUPLE) ? "true" : "false");
	qtn_nfc_show(s, p);
	seq_puts(s, ",\"htb\":");
	qtn_htb_show(s, p);
	seq_puts(s, ",\"dcb\":");
	qtn_show_dcb(s, p);
	seq_puts(s, ",\"last_error\":");
	if (p->has_error)
		seq_printf(s, "{\"op\":\"%s\",\"errno\":%d,\"msg\":\"%s\",\"detail\":\"%s\"}",
			   p->last_op, p->last_errno, p->last_msg, p->last_detail);
	else
		seq_puts(s, "null");
	seq_puts(s, ",\"txq_packets\":[");
	for (i = 0; i < p->nqueues; i++)
		seq_printf(s, "%s%lld", i ? "," : "", atomic64_read(&p->txq_packets[i]));
	seq_puts(s, "]}\n");
	mutex_unlock(&p->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(qtn_state);

void qtn_debugfs_add(struct qtn_priv *p, struct dentry *root)
{
	p->dbg = debugfs_create_dir(netdev_name(p->dev), root);
	debugfs_create_file("state", 0444, p->dbg, p, &qtn_state_fops);
}
