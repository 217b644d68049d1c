// SPDX-License-Identifier: GPL-2.0
/*
 * qostestnic: module setup, netdevs, ethtool and the failure injector.
 *
 * Netdevs registered at load:
 *   qtn0    profile mlx5 (NIC mode), driver name "mlx5_core", 16 queues
 *   qtn1    profile ice, driver name "ice", 16 queues
 *   qtn2    profile mlx5-switchdev uplink, driver "mlx5_core", 16 queues
 *   qtn2r0  representor of VF 0 on qtn2's eswitch, 1 queue
 *   qtn2r1  representor of VF 1 on qtn2's eswitch, 1 queue
 *   qtn3    profile ixgbe, driver "ixgbe", 16 channels (RSS), 64 tx queues:
 *           ethtool ntuple rules (qtn_ntuple.c; NETIF_F_NTUPLE changeable,
 *           off at load), mqprio taken as a TC count with the driver's layout
 *           (__ixgbe_setup_tc, ixgbe_set_dcb_queues), no flower
 *   qtn4    profile mlx5 (NIC mode) with HTB offload (qtn_htb.c), driver
 *           "mlx5_core", 16 queues + QTN_HTB_MAX_LEAVES QoS tx queues
 *   qtn5    profile i40e (ADQ), driver "i40e", 16 queues: channel mqprio
 *           and flower hw_tc as i40e_validate_mqprio_qopt, i40e_setup_tc and
 *           i40e_parse_cls_flower / i40e_add_del_cloud_filter_big_buf take
 *           them
 *   qtn6    profile bnxt, driver "bnxt_en", 8 channels, 64 tx queues: mqprio
 *           taken as a TC count with the driver's layout (bnxt_setup_mq_tc,
 *           bnxt_setup_msix), IEEE ETS/PFC/app without maxrate (bnxt_dcb.c)
 *   qtn7    profile cxgb4, driver "cxgb4", 16 queues: channel mqprio as
 *           cxgb4_mqprio_validate takes it, ethtool ntuple rules with a mask
 *           per rule (cxgb4_ntuple_set_filter)
 * All have NETIF_F_HW_TC in hw_features, off in features (turn it on with
 * `ethtool -K <if> hw-tc-offload on`), link speed 25000 Mb/s, carrier up.
 */
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>

#include "qtn.h"

/*
 * fail_nth: when N > 0, the Nth offload operation counted from the moment
 * the parameter was written fails with -EIO and the extack message
 * "qostestnic: injected failure"; the parameter then resets to 0.
 * Counted operations: mqprio installs (num_tc > 0), flower FLOW_CLS_REPLACE
 * and DCB set operations. Removals and stats reads are never failed.
 */
static int fail_nth;
static atomic_t qtn_ops_since_set = ATOMIC_INIT(0);

static int fail_nth_set(const char *val, const struct kernel_param *kp)
{
	int err = param_set_int(val, kp);

	if (!err)
		atomic_set(&qtn_ops_since_set, 0);
	return err;
}

static const struct kernel_param_ops fail_nth_ops = {
	.set = fail_nth_set,
	.get = param_get_int,
};
module_param_cb(fail_nth, &fail_nth_ops, &fail_nth, 0644);
MODULE_PARM_DESC(fail_nth, "fail the Nth offload operation from now with -EIO (0 = off)");

bool qtn_should_fail(void)
{
	int n = READ_ONCE(fail_nth);

	if (n <= 0)
		return false;
	if (atomic_inc_return(&qtn_ops_since_set) != n)
		return false;
	WRITE_ONCE(fail_nth, 0);
	return true;
}

void qtn_record(struct qtn_priv *p, const char *op, int err, const char *msg,
		const char *detail)
{
	p->has_error = true;
	p->last_errno = err;
	strscpy(p->last_op, op, sizeof(p->last_op));
	strscpy(p->last_msg, msg, sizeof(p->last_msg));
	strscpy(p->last_detail, detail ? detail : "", sizeof(p->last_detail));
	netdev_warn(p->dev, "%s refused (%d): %s%s%s\n", op, err, msg,
		    detail && *detail ? ": " : "", detail ? detail : "");
}

const char *qtn_profile_name(enum qtn_profile p)
{
	switch (p) {
	case QTN_PROFILE_MLX5:
		return "mlx5";
	case QTN_PROFILE_ICE:
		return "ice";
	case QTN_PROFILE_MLX5_SWITCHDEV:
		return "mlx5-switchdev";
	case QTN_PROFILE_IXGBE:
		return "ixgbe";
	case QTN_PROFILE_I40E:
		return "i40e";
	case QTN_PROFILE_BNXT:
		return "bnxt";
	case QTN_PROFILE_CXGB4:
		return "cxgb4";
	}
	return "unknown";
}

const char *qtn_driver_name(const struct qtn_priv *p)
{
	switch (p->profile) {
	case QTN_PROFILE_ICE:
		return "ice";
	case QTN_PROFILE_IXGBE:
		return "ixgbe";
	case QTN_PROFILE_I40E:
		return "i40e";
	case QTN_PROFILE_BNXT:
		return "bnxt_en";
	case QTN_PROFILE_CXGB4:
		return "cxgb4";
	default:
		return "mlx5_core";
	}
}

/* ---- netdev ops ---- */

static int qtn_open(struct net_device *dev)
{
	netif_tx_start_all_queues(dev);
	return 0;
}

static int qtn_stop(struct net_device *dev)
{
	netif_tx_stop_all_queues(dev);
	return 0;
}

/* Counts the packet on its tx queue and frees it: the test NIC has no wire. */
static netdev_tx_t qtn_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct qtn_priv *p = netdev_priv(dev);
	u16 q = skb_get_queue_mapping(skb);

	if (q < QTN_MAX_QUEUES)
		atomic64_inc(&p->txq_packets[q]);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

static void qtn_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *s)
{
	struct qtn_priv *p = netdev_priv(dev);
	int i;

	for (i = 0; i < QTN_MAX_QUEUES; i++)
		s->tx_packets += atomic64_read(&p->txq_packets[i]);
}

static int qtn_setup_tc(struct net_device *dev, enum tc_setup_type type,
			void *type_data)
{
	struct qtn_priv *p = netdev_priv(dev);

	/* ixgbe: mqprio; its block callback takes cls_u32 only (no flower),
	 * and it has no HTB offload. */
	if (p->profile == QTN_PROFILE_IXGBE && type != TC_SETUP_QDISC_MQPRIO)
		return -EOPNOTSUPP;
	switch (type) {
	case TC_SETUP_QDISC_MQPRIO:
		return qtn_setup_mqprio(p, type_data);
	case TC_SETUP_BLOCK:
		return qtn_setup_block(p, type_data);
	case TC_SETUP_QDISC_HTB:
		return qtn_setup_htb(p, type_data);
	default:
		return -EOPNOTSUPP;
	}
}

/* Like mlx5: hw-tc-offload cannot be turned off while rules are offloaded. */
static int qtn_set_features(struct net_device *dev, netdev_features_t features)
{
	struct qtn_priv *p = netdev_priv(dev);
	int err = 0;

	/* ixgbe_set_features: ntuple off leaves flow director perfect mode;
	 * the rules are gone. */
	if ((dev->features & NETIF_F_NTUPLE) && !(features & NETIF_F_NTUPLE)) {
		mutex_lock(&p->lock);
		qtn_nfc_free_all(p);
		mutex_unlock(&p->lock);
	}
	if ((dev->features & NETIF_F_HW_TC) && !(features & NETIF_F_HW_TC)) {
		mutex_lock(&p->lock);
		if (p->nrules) {
			netdev_err(dev, "Active offloaded tc filters, can't turn hw_tc_offload off\n");
			err = -EINVAL;
		}
		if (p->htb.active) {
			netdev_err(dev, "Active HTB offload, can't turn hw_tc_offload off\n");
			err = -EINVAL;
		}
		mutex_unlock(&p->lock);
	}
	return err;
}

static int qtn_get_phys_port_name(struct net_device *dev, char *buf, size_t len)
{
	struct qtn_priv *p = netdev_priv(dev);
	int n;

	if (p->profile != QTN_PROFILE_MLX5_SWITCHDEV)
		return -EOPNOTSUPP;
	if (p->rep_index >= 0)
		n = snprintf(buf, len, "pf0vf%d", p->rep_index);
	else
		n = snprintf(buf, len, "p0");
	return n >= len ? -EOPNOTSUPP : 0;
}

static int qtn_get_port_parent_id(struct net_device *dev,
				  struct netdev_phys_item_id *ppid)
{
	struct qtn_priv *p = netdev_priv(dev);
	static const u8 id[] = { 0x71, 0x74, 0x6e, 0x00, 0x00, 0x02 };

	if (p->profile != QTN_PROFILE_MLX5_SWITCHDEV)
		return -EOPNOTSUPP;
	ppid->id_len = sizeof(id);
	memcpy(ppid->id, id, sizeof(id));
	return 0;
}

const struct net_device_ops qtn_netdev_ops = {
	.ndo_open = qtn_open,
	.ndo_stop = qtn_stop,
	.ndo_start_xmit = qtn_xmit,
	.ndo_get_stats64 = qtn_get_stats64,
	.ndo_setup_tc = qtn_setup_tc,
	.ndo_set_features = qtn_set_features,
	.ndo_get_phys_port_name = qtn_get_phys_port_name,
	.ndo_get_port_parent_id = qtn_get_port_parent_id,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* ---- ethtool ---- */

static void qtn_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info)
{
	struct qtn_priv *p = netdev_priv(dev);

	strscpy(info->driver, qtn_driver_name(p), sizeof(info->driver));
	strscpy(info->version, "qostestnic", sizeof(info->version));
	strscpy(info->fw_version, "qtn-1.0", sizeof(info->fw_version));
	snprintf(info->bus_info, sizeof(info->bus_info), "qostestnic:%s",
		 qtn_profile_name(p->profile));
}

static int qtn_get_link_ksettings(struct net_device *dev,
				  struct ethtool_link_ksettings *ks)
{
	ethtool_link_ksettings_zero_link_mode(ks, supported);
	ethtool_link_ksettings_zero_link_mode(ks, advertising);
	ethtool_link_ksettings_add_link_mode(ks, supported, 25000baseSR_Full);
	ethtool_link_ksettings_add_link_mode(ks, advertising, 25000baseSR_Full);
	ks->base.speed = QTN_LINK_MBPS;
	ks->base.duplex = DUPLEX_FULL;
	ks->base.port = PORT_FIBRE;
	ks->base.autoneg = AUTONEG_DISABLE;
	return 0;
}

static void qtn_get_channels(struct net_device *dev, struct ethtool_channels *ch)
{
	struct qtn_priv *p = netdev_priv(dev);

	mutex_lock(&p->lock);
	ch->max_combined = p->nqueues;
	ch->combined_count = p->channels;
	mutex_unlock(&p->lock);
}

static int qtn_set_channels(struct net_device *dev, struct ethtool_channels *ch)
{
	struct qtn_priv *p = netdev_priv(dev);
	unsigned int n = ch->combined_count;
	int err;

	if (ch->rx_count || ch->tx_count || ch->other_count)
		return -EINVAL;
	if (n < 1 || n > p->nqueues)
		return -EINVAL;
	mutex_lock(&p->lock);
	if (p->mqprio.active) {
		mutex_unlock(&p->lock);
		netdev_err(dev, "Can't change number of channels while mqprio offload is active\n");
		return -EINVAL;
	}
	err = netif_set_real_num_tx_queues(dev, n);
	if (!err)
		err = netif_set_real_num_rx_queues(dev, n);
	if (!err)
		p->channels = n;
	mutex_unlock(&p->lock);
	return err;
}

static const struct ethtool_ops qtn_ethtool_ops = {
	.get_drvinfo = qtn_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_link_ksettings = qtn_get_link_ksettings,
	.get_channels = qtn_get_channels,
	.set_channels = qtn_set_channels,
	.get_rxnfc = qtn_get_rxnfc,
	.set_rxnfc = qtn_set_rxnfc,
};

/* ---- module ---- */

struct qtn_def {
	const char *name;
	enum qtn_profile profile;
	int rep_index;
	unsigned int nqueues;
	bool htb;	/* HTB offload, with QTN_HTB_MAX_LEAVES more tx queues */
	unsigned int ntxq;	/* tx queues allocated when not nqueues (bnxt) */
};

static const struct qtn_def qtn_defs[] = {
	{ "qtn0", QTN_PROFILE_MLX5, -1, QTN_MAX_QUEUES },
	{ "qtn1", QTN_PROFILE_ICE, -1, QTN_MAX_QUEUES },
	{ "qtn2", QTN_PROFILE_MLX5_SWITCHDEV, -1, QTN_MAX_QUEUES },
	{ "qtn2r0", QTN_PROFILE_MLX5_SWITCHDEV, 0, 1 },
	{ "qtn2r1", QTN_PROFILE_MLX5_SWITCHDEV, 1, 1 },
	{ "qtn3", QTN_PROFILE_IXGBE, -1, QTN_MAX_QUEUES, false, QTN_IXGBE_TXQ },
	{ "qtn4", QTN_PROFILE_MLX5, -1, QTN_MAX_QUEUES, true },
	{ "qtn5", QTN_PROFILE_I40E, -1, QTN_MAX_QUEUES },
	/* bnxt: 8 rings per TC, up to QTN_BNXT_MAX_TC TCs (bnxt_check_rings). */
	{ "qtn6", QTN_PROFILE_BNXT, -1, 8, false, 8 * QTN_BNXT_MAX_TC },
	{ "qtn7", QTN_PROFILE_CXGB4, -1, QTN_MAX_QUEUES },
};

static struct net_device *qtn_devs[ARRAY_SIZE(qtn_defs)];
static struct dentry *qtn_dbg_root;

static void qtn_remove_all(void)
{
	int i;

	for (i = ARRAY_SIZE(qtn_devs) - 1; i >= 0; i--) {
		struct net_device *dev = qtn_devs[i];
		struct qtn_priv *p;

		if (!dev)
			continue;
		p = netdev_priv(dev);
		unregister_netdev(dev);
		qtn_flower_free_all(p);
		qtn_nfc_free_all(p);
		free_netdev(dev);
		qtn_devs[i] = NULL;
	}
	debugfs_remove_recursive(qtn_dbg_root);
	qtn_dbg_root = NULL;
}

static int qtn_create(int idx)
{
	const struct qtn_def *d = &qtn_defs[idx];
	u8 addr[ETH_ALEN] = { 0x02, 0x71, 0x74, 0x6e, 0x00, (u8)idx };
	struct net_device *dev;
	struct qtn_priv *p;
	int err, i;

	dev = alloc_etherdev_mqs(sizeof(*p), (d->ntxq ? d->ntxq : d->nqueues) +
				 (d->htb ? QTN_HTB_MAX_LEAVES : 0), d->nqueues);
	if (!dev)
		return -ENOMEM;
	/* The QoS queues (mlx5e_qid_from_qos) lie above the regular ones. */
	dev->real_num_tx_queues = d->nqueues;
	strscpy(dev->name, d->name, IFNAMSIZ);
	dev->netdev_ops = &qtn_netdev_ops;
	dev->ethtool_ops = &qtn_ethtool_ops;
	if (d->profile == QTN_PROFILE_BNXT)
		dev->dcbnl_ops = &qtn_dcbnl_ops_bnxt;
	else if (d->profile == QTN_PROFILE_CXGB4)
		dev->dcbnl_ops = NULL;	/* cxgb4_dcb_ops: no IEEE set ops */
	else if (d->profile != QTN_PROFILE_MLX5_SWITCHDEV || d->rep_index < 0)
		dev->dcbnl_ops = &qtn_dcbnl_ops;
	dev->hw_features |= NETIF_F_HW_TC;
	dev->features &= ~NETIF_F_HW_TC;
	if (d->profile == QTN_PROFILE_IXGBE || d->profile == QTN_PROFILE_CXGB4)
		dev->hw_features |= NETIF_F_NTUPLE;
	eth_hw_addr_set(dev, addr);

	p = netdev_priv(dev);
	p->dev = dev;
	p->profile = d->profile;
	p->rep_index = d->rep_index;
	p->nqueues = d->nqueues;
	p->htb_capable = d->htb;
	p->channels = d->nqueues;
	mutex_init(&p->lock);
	INIT_LIST_HEAD(&p->rules);
	INIT_LIST_HEAD(&p->nfc_rules);
	INIT_LIST_HEAD(&p->ingress_cb_list);
	INIT_LIST_HEAD(&p->egress_cb_list);
	for (i = 0; i < QTN_MAX_QUEUES; i++)
		atomic64_set(&p->txq_packets[i], 0);

	err = register_netdev(dev);
	if (err) {
		free_netdev(dev);
		return err;
	}
	netif_carrier_on(dev);
	qtn_devs[idx] = dev;
	qtn_debugfs_add(p, qtn_dbg_root);
	return 0;
}

static int __init qtn_init(void)
{
	int i, err;

	qtn_dbg_root = debugfs_create_dir("qostestnic", NULL);
	for (i = 0; i < ARRAY_SIZE(qtn_defs); i++) {
		err = qtn_create(i);
		if (err) {
			pr_err("qostestnic: cannot register %s: %d\n", qtn_defs[i].name, err);
			qtn_remove_all();
			return err;
		}
	}
	pr_info("qostestnic: registered %zu test netdevs\n", ARRAY_SIZE(qtn_defs));
	return 0;
}

static void __exit qtn_exit(void)
{
	qtn_remove_all();
}

module_init(qtn_init);
module_exit(qtn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("qosplane kernel lab test NIC: records mqprio/flower/DCB offloads");
