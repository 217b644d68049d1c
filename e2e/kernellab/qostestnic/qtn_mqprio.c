// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: TC_SETUP_QDISC_MQPRIO, validated like mlx5 and ice.
 *
 * The 6.1 kernel passes no extack with mqprio offloads, so refusals go to
 * the kernel log and to last_error in debugfs; tc itself only sees the errno.
 * Rates are bytes/s.
 */
#include <linux/kernel.h>
#include <linux/netdevice.h>

#include "qtn.h"

#define OP "mqprio"

static int qtn_mqprio_validate_mlx5(struct qtn_priv *p,
				    struct tc_mqprio_qopt_offload *m)
{
	struct tc_mqprio_qopt *q = &m->qopt;
	unsigned int agg = 0;
	char d[96];
	int i;

	if (m->mode == TC_MQPRIO_MODE_DCB) {
		if (q->num_tc != 8)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "DCB mode requires num_tc 0 or 8", NULL);
		return 0;
	}
	if (q->num_tc > TC_QOPT_MAX_QUEUE)
		return QTN_REFUSE(p, NULL, OP, -EINVAL, "Too many TCs", NULL);
	for (i = 0; i < q->num_tc; i++) {
		snprintf(d, sizeof(d), "tc %d", i);
		if (!q->count[i])
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "Zero size for queue-group is not supported", d);
		if (m->min_rate[i])
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "Min tx rate is not supported", d);
		if (m->max_rate[i] && m->max_rate[i] < QTN_MLX5_MIN_RATE)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "Input rate below minimum supported (1 Mbit/s)", d);
		if (q->offset[i] != agg)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "Discontinuous queues config is not supported", d);
		agg += q->count[i];
	}
	if (agg != p->channels) {
		snprintf(d, sizeof(d), "queues %u, channels %u", agg, p->channels);
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Num of queues does not match available channels", d);
	}
	return 0;
}

static int qtn_mqprio_validate_ice(struct qtn_priv *p,
				   struct tc_mqprio_qopt_offload *m)
{
	struct tc_mqprio_qopt *q = &m->qopt;
	unsigned int agg = 0;
	u64 sum_min = 0;
	char d[96];
	int i;

	if (m->mode != TC_MQPRIO_MODE_CHANNEL)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Only channel mode is supported", NULL);
	if (q->num_tc > 16)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Too many channels (at most 16)", NULL);
	for (i = 0; i < q->num_tc; i++) {
		u64 min = m->min_rate[i], max = m->max_rate[i];

		snprintf(d, sizeof(d), "tc %d: min %llu, max %llu bytes/s", i, min, max);
		if (!q->count[i])
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "queue count of a TC cannot be zero", d);
		if (q->offset[i] != agg)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "queue groups must be contiguous", d);
		agg += q->count[i];
		if (min % QTN_ICE_RATE_STEP || max % QTN_ICE_RATE_STEP)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "Rate not a multiple of 500 Kbps", d);
		if (max > QTN_LINK_BYTES_PS)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "max rate exceeds link speed", d);
		if (max && min > max)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "min rate greater than max rate", d);
		sum_min += min;
	}
	if (sum_min > QTN_LINK_BYTES_PS)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Invalid min Tx rate(s): sum of min rates exceeds link speed", NULL);
	if (agg > p->channels) {
		snprintf(d, sizeof(d), "queues %u, channels %u", agg, p->channels);
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Queues requested exceed available channels", d);
	}
	return 0;
}

static void qtn_mqprio_clear(struct qtn_priv *p)
{
	memset(&p->mqprio, 0, sizeof(p->mqprio));
	netdev_reset_tc(p->dev);
}

/* Called under RTNL by sch_mqprio (install: num_tc > 0; teardown: num_tc 0). */
int qtn_setup_mqprio(struct qtn_priv *p, struct tc_mqprio_qopt_offload *m)
{
	struct tc_mqprio_qopt *q = &m->qopt;
	int err, i;

	mutex_lock(&p->lock);
	if (!q->num_tc) {
		qtn_mqprio_clear(p);
		mutex_unlock(&p->lock);
		return 0;
	}
	/* mlx5e_setup_tc_mqprio: not beside an offloaded HTB. */
	if (p->htb.active) {
		err = QTN_REFUSE(p, NULL, OP, -EINVAL,
				 "mqprio and an offloaded HTB are mutually exclusive", NULL);
		goto out;
	}
	if (p->rep_index >= 0) {
		err = QTN_REFUSE(p, NULL, OP, -EOPNOTSUPP,
				 "mqprio is not supported on representors", NULL);
		goto out;
	}
	if (!(p->dev->features & NETIF_F_HW_TC)) {
		err = QTN_REFUSE(p, NULL, OP, -EINVAL,
				 "hw-tc-offload is off: turn it on with ethtool -K", NULL);
		goto out;
	}
	if (p->profile == QTN_PROFILE_ICE)
		err = qtn_mqprio_validate_ice(p, m);
	else
		err = qtn_mqprio_validate_mlx5(p, m);
	if (err)
		goto out;
	if (qtn_should_fail()) {
		err = QTN_REFUSE(p, NULL, OP, -EIO, "injected failure", NULL);
		goto out;
	}

	err = netdev_set_num_tc(p->dev, q->num_tc);
	if (err)
		goto out;
	for (i = 0; i < q->num_tc; i++) {
		err = netdev_set_tc_queue(p->dev, i, q->count[i], q->offset[i]);
		if (err) {
			qtn_mqprio_clear(p);
			goto out;
		}
	}
	q->hw = TC_MQPRIO_HW_OFFLOAD_TCS;

	p->mqprio.active = true;
	p->mqprio.num_tc = q->num_tc;
	memcpy(p->mqprio.prio_tc_map, q->prio_tc_map, sizeof(p->mqprio.prio_tc_map));
	memcpy(p->mqprio.count, q->count, sizeof(p->mqprio.count));
	memcpy(p->mqprio.offset, q->offset, sizeof(p->mqprio.offset));
	p->mqprio.mode = m->mode;
	p->mqprio.shaper = m->shaper;
	p->mqprio.flags = m->flags;
	memcpy(p->mqprio.min_rate, m->min_rate, sizeof(p->mqprio.min_rate));
	memcpy(p->mqprio.max_rate, m->max_rate, sizeof(p->mqprio.max_rate));
out:
	mutex_unlock(&p->lock);
	return err;
}
