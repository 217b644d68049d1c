// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: TC_SETUP_QDISC_MQPRIO, validated like mlx5, ice, i40e and
 * cxgb4, and taken as a TC count with the driver's own layout like bnxt.
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

/* i40e_setup_tc (channel mode) and i40e_validate_mqprio_qopt, 6.1. */
static int qtn_mqprio_validate_i40e(struct qtn_priv *p,
				    struct tc_mqprio_qopt_offload *m)
{
	struct tc_mqprio_qopt *q = &m->qopt;
	u64 sum_max = 0;
	char d[96];
	int i;

	if (m->mode != TC_MQPRIO_MODE_CHANNEL)
		/* DCB mode needs I40E_FLAG_DCB_ENABLED, off in ADQ mode. */
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "DCB is not enabled for adapter", NULL);
	if (q->offset[0] != 0 || q->num_tc < 1 || q->num_tc > 8)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "i40e_validate_mqprio_qopt: offset[0] != 0 or num_tc not 1-8", NULL);
	for (i = 0; i < q->num_tc; i++) {
		snprintf(d, sizeof(d), "tc %d", i);
		if (!q->count[i])
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "i40e_validate_mqprio_qopt: a TC without queues", d);
		if (m->min_rate[i])
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "Invalid min tx rate (greater than 0) specified", d);
		sum_max += div_u64(m->max_rate[i], 125000);	/* Mbit/s */
		if (i + 1 < q->num_tc && q->offset[i + 1] != q->offset[i] + q->count[i])
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "i40e_validate_mqprio_qopt: queues not contiguous", d);
	}
	i = q->num_tc - 1;
	if (q->offset[i] + q->count[i] > p->channels)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Failed to create traffic channel, insufficient number of queues.", NULL);
	if (sum_max > QTN_LINK_MBPS)
		return QTN_REFUSE(p, NULL, OP, -EINVAL, "Invalid max tx rate specified", NULL);
	if (!is_power_of_2(q->count[0])) {
		snprintf(d, sizeof(d), "tc 0: %u queues", q->count[0]);
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Failed to create channel. Override queues not power of 2", d);
	}
	return 0;
}

/* cxgb4_mqprio_validate, 6.1 (nsched_cls 16 as on T5/T6). */
static int qtn_mqprio_validate_cxgb4(struct qtn_priv *p,
				     struct tc_mqprio_qopt_offload *m)
{
	struct tc_mqprio_qopt *q = &m->qopt;
	u64 sum_min = 0, sum_max = 0;
	char d[96];
	int i, j;

	if (q->hw != TC_MQPRIO_HW_OFFLOAD_TCS)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Only full TC hardware offload is supported", NULL);
	if (m->mode != TC_MQPRIO_MODE_CHANNEL)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Only channel mode offload is supported", NULL);
	if (m->shaper != TC_MQPRIO_SHAPER_BW_RATE)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Only bandwidth rate shaper supported", NULL);
	if (q->num_tc > 16)
		return QTN_REFUSE(p, NULL, OP, -ERANGE,
				  "Only 16 traffic classes supported by hardware", NULL);
	for (i = 0; i < q->num_tc; i++) {
		for (j = i + 1; q->count[i] && j < q->num_tc; j++) {
			if (!q->count[j])
				continue;
			if (max(q->offset[i], q->offset[j]) <=
			    min(q->offset[i] + q->count[i] - 1, q->offset[j] + q->count[j] - 1)) {
				snprintf(d, sizeof(d), "tc %d and tc %d", i, j);
				return QTN_REFUSE(p, NULL, OP, -EINVAL,
						  "Queues can't overlap across tc", d);
			}
		}
		sum_min += m->min_rate[i];
		sum_max += m->max_rate[i];
		if (q->offset[i] + q->count[i] > p->channels)
			return QTN_REFUSE(p, NULL, OP, -ENOMEM,
					  "more queues than EOTIDs", NULL);
	}
	if (sum_min > QTN_LINK_BYTES_PS || sum_max > QTN_LINK_BYTES_PS) {
		snprintf(d, sizeof(d), "min %llu max %llu bytes/s", sum_min, sum_max);
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Total Min/Max Rate > supported", d);
	}
	return 0;
}

/*
 * bnxt_setup_tc / bnxt_setup_mq_tc / bnxt_setup_msix, 6.1: mqprio is a TC
 * count; TC i gets the channel count of tx rings from i x channels; mode,
 * shaper and rates are not looked at. Returns 1 when the TC count is the
 * one the device has (nothing to do).
 */
static int qtn_mqprio_bnxt(struct qtn_priv *p, struct tc_mqprio_qopt_offload *m)
{
	struct tc_mqprio_qopt *q = &m->qopt;
	char d[96];

	q->hw = TC_MQPRIO_HW_OFFLOAD_TCS;
	if (q->num_tc > QTN_BNXT_MAX_TC) {
		snprintf(d, sizeof(d), "%u TCs", q->num_tc);
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "Too many traffic classes requested", d);
	}
	if (q->num_tc * p->channels > p->dev->num_tx_queues)
		return QTN_REFUSE(p, NULL, OP, -ENOMEM,
				  "bnxt_check_rings: not enough tx rings", NULL);
	return netdev_get_num_tc(p->dev) == q->num_tc;
}

/*
 * __ixgbe_setup_tc / ixgbe_setup_tc / ixgbe_set_dcb_queues (ixgbe_main.c,
 * ixgbe_lib.c), 6.1, 82599 and later: mqprio is a TC count of at most 8;
 * mode, shaper, rates and the queues asked for are not looked at. Each TC
 * gets rss_i queues from i x rss_i, rss_i = min(num_tx_queues / TCs, 8 above
 * 4 TCs else 16, the RSS limit (the channel count)); rx likewise
 * (num_rx_queues = rss_i x TCs). Returns 1 when the TC count is the one the
 * device has (nothing to do).
 */
static int qtn_mqprio_ixgbe(struct qtn_priv *p, struct tc_mqprio_qopt_offload *m)
{
	struct tc_mqprio_qopt *q = &m->qopt;

	q->hw = TC_MQPRIO_HW_OFFLOAD_TCS;
	if (q->num_tc > QTN_IXGBE_MAX_TC)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "ixgbe_setup_tc: more TCs than dcb_cfg.num_tcs.pg_tcs (8)", NULL);
	return netdev_get_num_tc(p->dev) == q->num_tc;
}

/* The queues a TC gets from a driver that lays them out itself. */
static unsigned int qtn_driver_tc_queues(struct qtn_priv *p, unsigned int num_tc)
{
	unsigned int n = p->channels;

	if (p->profile == QTN_PROFILE_IXGBE) {
		n = min(n, p->dev->num_tx_queues / num_tc);
		n = min(n, num_tc > 4 ? 8U : 16U);
	}
	return n;
}

/* Rx queues an ntuple rule may steer to: every channel, or with ixgbe in
 * DCB mode rss_i per TC (adapter->num_rx_queues). */
unsigned int qtn_rx_queues(struct qtn_priv *p)
{
	if (p->profile == QTN_PROFILE_IXGBE && p->mqprio.active)
		return p->mqprio.count[0] * p->mqprio.num_tc;
	return p->channels;
}

static void qtn_mqprio_clear(struct qtn_priv *p)
{
	memset(&p->mqprio, 0, sizeof(p->mqprio));
	netdev_reset_tc(p->dev);
	if (p->profile == QTN_PROFILE_BNXT || p->profile == QTN_PROFILE_IXGBE)
		netif_set_real_num_tx_queues(p->dev, p->channels);
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
	/* i40e_setup_tc, bnxt_setup_tc, cxgb_setup_tc_mqprio and
	 * __ixgbe_setup_tc do not look at the feature. */
	if (!(p->dev->features & NETIF_F_HW_TC) && p->profile != QTN_PROFILE_I40E &&
	    p->profile != QTN_PROFILE_BNXT && p->profile != QTN_PROFILE_CXGB4 &&
	    p->profile != QTN_PROFILE_IXGBE) {
		err = QTN_REFUSE(p, NULL, OP, -EINVAL,
				 "hw-tc-offload is off: turn it on with ethtool -K", NULL);
		goto out;
	}
	switch (p->profile) {
	case QTN_PROFILE_ICE:
		err = qtn_mqprio_validate_ice(p, m);
		break;
	case QTN_PROFILE_I40E:
		err = qtn_mqprio_validate_i40e(p, m);
		break;
	case QTN_PROFILE_CXGB4:
		err = qtn_mqprio_validate_cxgb4(p, m);
		break;
	case QTN_PROFILE_BNXT:
	case QTN_PROFILE_IXGBE:
		err = p->profile == QTN_PROFILE_BNXT ? qtn_mqprio_bnxt(p, m) : qtn_mqprio_ixgbe(p, m);
		if (err == 1) {
			err = 0;
			goto out;
		}
		break;
	default:
		err = qtn_mqprio_validate_mlx5(p, m);
	}
	if (err)
		goto out;
	if (qtn_should_fail()) {
		err = QTN_REFUSE(p, NULL, OP, -EIO, "injected failure", NULL);
		goto out;
	}

	if (p->profile == QTN_PROFILE_BNXT || p->profile == QTN_PROFILE_IXGBE) {
		/* The driver's layout replaces the request's. */
		unsigned int n = qtn_driver_tc_queues(p, q->num_tc);

		for (i = 0; i < q->num_tc; i++) {
			q->count[i] = n;
			q->offset[i] = i * n;
		}
		err = netif_set_real_num_tx_queues(p->dev, q->num_tc * n);
		if (err)
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
	if (p->profile == QTN_PROFILE_BNXT || p->profile == QTN_PROFILE_IXGBE) {
		/* bnxt and ixgbe program no rate from mqprio. */
		memset(p->mqprio.min_rate, 0, sizeof(p->mqprio.min_rate));
		memset(p->mqprio.max_rate, 0, sizeof(p->mqprio.max_rate));
	}
out:
	mutex_unlock(&p->lock);
	return err;
}
