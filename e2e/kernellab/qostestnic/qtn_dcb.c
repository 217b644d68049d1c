// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: IEEE DCB through dcbnl (ETS, max rate, PFC, app table), held
 * and shown in debugfs. Set operations count for fail_nth. Max rates are in
 * kbit/s as dcbnl carries them; ETS bandwidths in percent.
 */
#include <linux/netdevice.h>
#include <net/dcbnl.h>

#include "qtn.h"

#define OP "dcb"
/* mlx5: per-TC max rate above 255 Gbit/s cannot be encoded (kbit/s). */
#define QTN_DCB_MAXRATE_KBPS (255ULL * 1000 * 1000)

static int qtn_ieee_getets(struct net_device *dev, struct ieee_ets *ets)
{
	struct qtn_priv *p = netdev_priv(dev);

	mutex_lock(&p->lock);
	*ets = p->dcb.ets;
	ets->ets_cap = IEEE_8021QAZ_MAX_TCS;
	mutex_unlock(&p->lock);
	return 0;
}

/*
 * bnxt_ets_validate (bnxt_dcb.c, 6.1): TSA strict or ETS below the highest
 * mapped TC, ETS shares at most 100 %, none at 0 % when they make 100 %.
 * bnxt_dcbnl_ieee_setets then sets the TC count to the highest mapped TC
 * + 1 (bnxt_setup_mq_tc); the lab does not emulate that re-count (a plan
 * maps a priority to every TC it lays out).
 */
static int qtn_bnxt_ets_validate(struct qtn_priv *p, struct ieee_ets *ets)
{
	int i, max_tc = 0, total = 0;
	bool zero = false;

	for (i = 0; i < IEEE_8021QAZ_MAX_TCS; i++) {
		if (ets->prio_tc[i] > QTN_BNXT_MAX_TC)
			return QTN_REFUSE(p, NULL, OP, -EINVAL,
					  "priority to TC mapping exceeds TC count", NULL);
		max_tc = max_t(int, max_tc, ets->prio_tc[i]);
	}
	for (i = 0; i < max_tc; i++) {
		switch (ets->tc_tsa[i]) {
		case IEEE_8021QAZ_TSA_STRICT:
			break;
		case IEEE_8021QAZ_TSA_ETS:
			total += ets->tc_tx_bw[i];
			zero = zero || !ets->tc_tx_bw[i];
			break;
		default:
			return QTN_REFUSE(p, NULL, OP, -ENOTSUPP,
					  "bnxt_ets_validate: unsupported TSA", NULL);
		}
	}
	if (total > 100)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "rejecting ETS config exceeding available bandwidth", NULL);
	if (zero && total == 100)
		return QTN_REFUSE(p, NULL, OP, -EINVAL,
				  "rejecting ETS config starving a TC", NULL);
	return 0;
}

static int qtn_ieee_setets(struct net_device *dev, struct ieee_ets *ets)
{
	struct qtn_priv *p = netdev_priv(dev);
	int i, sum = 0, n_ets = 0, err = 0;

	mutex_lock(&p->lock);
	for (i = 0; i < IEEE_8021QAZ_MAX_TCS; i++) {
		if (ets->prio_tc[i] >= IEEE_8021QAZ_MAX_TCS) {
			err = QTN_REFUSE(p, NULL, OP, -EINVAL,
					 "Failed to validate ETS: priority to TC mapping out of range", NULL);
			goto out;
		}
		switch (ets->tc_tsa[i]) {
		case IEEE_8021QAZ_TSA_STRICT:
		case IEEE_8021QAZ_TSA_VENDOR:
			break;
		case IEEE_8021QAZ_TSA_ETS:
			sum += ets->tc_tx_bw[i];
			n_ets++;
			break;
		default:
			err = QTN_REFUSE(p, NULL, OP, -EINVAL,
					 "Failed to validate ETS: unsupported TSA", NULL);
			goto out;
		}
	}
	if (p->profile == QTN_PROFILE_BNXT) {
		err = qtn_bnxt_ets_validate(p, ets);
		if (err)
			goto out;
	} else if (n_ets && sum != 100) {
		err = QTN_REFUSE(p, NULL, OP, -EINVAL,
				 "Failed to validate ETS: BW sum is illegal", NULL);
		goto out;
	}
	if (qtn_should_fail()) {
		err = QTN_REFUSE(p, NULL, OP, -EIO, "injected failure", NULL);
		goto out;
	}
	p->dcb.ets = *ets;
	p->dcb.ets_set = true;
out:
	mutex_unlock(&p->lock);
	return err;
}

static int qtn_ieee_getmaxrate(struct net_device *dev, struct ieee_maxrate *mr)
{
	struct qtn_priv *p = netdev_priv(dev);

	mutex_lock(&p->lock);
	*mr = p->dcb.maxrate;
	mutex_unlock(&p->lock);
	return 0;
}

static int qtn_ieee_setmaxrate(struct net_device *dev, struct ieee_maxrate *mr)
{
	struct qtn_priv *p = netdev_priv(dev);
	int i, err = 0;

	mutex_lock(&p->lock);
	for (i = 0; i < IEEE_8021QAZ_MAX_TCS; i++) {
		if (mr->tc_maxrate[i] > QTN_DCB_MAXRATE_KBPS) {
			err = QTN_REFUSE(p, NULL, OP, -EINVAL,
					 "TC max rate above 255 Gbps is not supported", NULL);
			goto out;
		}
	}
	if (qtn_should_fail()) {
		err = QTN_REFUSE(p, NULL, OP, -EIO, "injected failure", NULL);
		goto out;
	}
	p->dcb.maxrate = *mr;
	p->dcb.maxrate_set = true;
out:
	mutex_unlock(&p->lock);
	return err;
}

static int qtn_ieee_getpfc(struct net_device *dev, struct ieee_pfc *pfc)
{
	struct qtn_priv *p = netdev_priv(dev);

	mutex_lock(&p->lock);
	*pfc = p->dcb.pfc;
	pfc->pfc_cap = IEEE_8021QAZ_MAX_TCS;
	mutex_unlock(&p->lock);
	return 0;
}

static int qtn_ieee_setpfc(struct net_device *dev, struct ieee_pfc *pfc)
{
	struct qtn_priv *p = netdev_priv(dev);
	int err = 0;

	mutex_lock(&p->lock);
	if (qtn_should_fail()) {
		err = QTN_REFUSE(p, NULL, OP, -EIO, "injected failure", NULL);
		goto out;
	}
	p->dcb.pfc = *pfc;
	p->dcb.pfc_set = true;
out:
	mutex_unlock(&p->lock);
	return err;
}

static int qtn_app_find(struct qtn_priv *p, const struct dcb_app *app)
{
	int i;

	for (i = 0; i < p->dcb.napps; i++)
		if (p->dcb.apps[i].selector == app->selector &&
		    p->dcb.apps[i].protocol == app->protocol &&
		    p->dcb.apps[i].priority == app->priority)
			return i;
	return -1;
}

static int qtn_ieee_setapp(struct net_device *dev, struct dcb_app *app)
{
	struct qtn_priv *p = netdev_priv(dev);
	int err = 0;

	mutex_lock(&p->lock);
	if (app->selector != IEEE_8021QAZ_APP_SEL_DSCP &&
	    app->selector != IEEE_8021QAZ_APP_SEL_ETHERTYPE) {
		err = QTN_REFUSE(p, NULL, OP, -EINVAL,
				 "only DSCP and ethertype app entries are supported", NULL);
		goto out;
	}
	if (app->priority >= IEEE_8021QAZ_MAX_TCS ||
	    (app->selector == IEEE_8021QAZ_APP_SEL_DSCP && app->protocol > 63)) {
		err = QTN_REFUSE(p, NULL, OP, -EINVAL, "app entry out of range", NULL);
		goto out;
	}
	if (qtn_app_find(p, app) >= 0)
		goto out;
	if (p->dcb.napps >= QTN_MAX_APPS) {
		err = QTN_REFUSE(p, NULL, OP, -ENOSPC, "app table full", NULL);
		goto out;
	}
	if (qtn_should_fail()) {
		err = QTN_REFUSE(p, NULL, OP, -EIO, "injected failure", NULL);
		goto out;
	}
	err = dcb_ieee_setapp(dev, app);
	if (!err)
		p->dcb.apps[p->dcb.napps++] = *app;
out:
	mutex_unlock(&p->lock);
	return err;
}

static int qtn_ieee_delapp(struct net_device *dev, struct dcb_app *app)
{
	struct qtn_priv *p = netdev_priv(dev);
	int i, err;

	mutex_lock(&p->lock);
	i = qtn_app_find(p, app);
	if (i < 0) {
		mutex_unlock(&p->lock);
		return -ENOENT;
	}
	err = dcb_ieee_delapp(dev, app);
	p->dcb.apps[i] = p->dcb.apps[--p->dcb.napps];
	mutex_unlock(&p->lock);
	return err;
}

static u8 qtn_getdcbx(struct net_device *dev)
{
	return DCB_CAP_DCBX_HOST | DCB_CAP_DCBX_VER_IEEE;
}

static u8 qtn_setdcbx(struct net_device *dev, u8 mode)
{
	/* Only host-managed IEEE mode: return non-zero for anything else. */
	return mode == (DCB_CAP_DCBX_HOST | DCB_CAP_DCBX_VER_IEEE) ? 0 : 1;
}

const struct dcbnl_rtnl_ops qtn_dcbnl_ops = {
	.ieee_getets = qtn_ieee_getets,
	.ieee_setets = qtn_ieee_setets,
	.ieee_getmaxrate = qtn_ieee_getmaxrate,
	.ieee_setmaxrate = qtn_ieee_setmaxrate,
	.ieee_getpfc = qtn_ieee_getpfc,
	.ieee_setpfc = qtn_ieee_setpfc,
	.ieee_setapp = qtn_ieee_setapp,
	.ieee_delapp = qtn_ieee_delapp,
	.getdcbx = qtn_getdcbx,
	.setdcbx = qtn_setdcbx,
};

/* bnxt_dcb.c dcbnl_ops: no ieee_getmaxrate / ieee_setmaxrate (dcbnl skips a
 * maxrate it is given). */
const struct dcbnl_rtnl_ops qtn_dcbnl_ops_bnxt = {
	.ieee_getets = qtn_ieee_getets,
	.ieee_setets = qtn_ieee_setets,
	.ieee_getpfc = qtn_ieee_getpfc,
	.ieee_setpfc = qtn_ieee_setpfc,
	.ieee_setapp = qtn_ieee_setapp,
	.ieee_delapp = qtn_ieee_delapp,
	.getdcbx = qtn_getdcbx,
	.setdcbx = qtn_setdcbx,
};
