/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qostestnic: a test NIC for the qosplane kernel lab.
 *
 * It registers netdevs that accept tc mqprio and flower hardware offloads the
 * way mlx5 and ice do (same refusals, same extack texts where the kernel
 * passes an extack) and records what they hold, readable as JSON in debugfs
 * at /sys/kernel/debug/qostestnic/<ifname>/state. Nothing is transmitted:
 * packets are counted per tx queue and freed.
 *
 * Units: rates in bytes/s (as the kernel's offload structs carry them), link
 * speed in Mb/s.
 */
#ifndef QTN_H
#define QTN_H

#include <linux/ethtool.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <net/dcbnl.h>
#include <net/flow_offload.h>
#include <net/pkt_cls.h>
#include <net/pkt_sched.h>

#define QTN_MAX_QUEUES 16
#define QTN_LINK_MBPS 25000
/* Link speed in bytes/s. */
#define QTN_LINK_BYTES_PS ((u64)QTN_LINK_MBPS * 1000000ULL / 8)
/* ice rate granularity: 500 kbit/s in bytes/s. */
#define QTN_ICE_RATE_STEP 62500ULL
/* mlx5 minimum shaper rate: 1 Mbit/s in bytes/s. */
#define QTN_MLX5_MIN_RATE 125000ULL
#define QTN_MAX_APPS 64

enum qtn_profile {
	QTN_PROFILE_MLX5,		/* mlx5 NIC mode */
	QTN_PROFILE_ICE,		/* Intel E810 */
	QTN_PROFILE_MLX5_SWITCHDEV,	/* mlx5 eswitch uplink and representors */
	QTN_PROFILE_IXGBE,		/* Intel 82599 (ixgbe): ethtool ntuple, no flower */
	QTN_PROFILE_I40E,		/* Intel 700 series (i40e) ADQ */
	QTN_PROFILE_BNXT,		/* Broadcom (bnxt_en): mqprio as a TC count, DCB */
	QTN_PROFILE_CXGB4,		/* Chelsio (cxgb4): channel mqprio, ethtool ntuple */
};

/* bnxt: bp->max_tc, the firmware's CoS queues (at most 8). */
#define QTN_BNXT_MAX_TC 8

/* ixgbe (82599, X540, X550), Linux 6.1: up to 8 TCs (ixgbe_setup_tc,
 * dcb_cfg.num_tcs.pg_tcs); the netdev has MAX_TX_QUEUES (IXGBE_MAX_FDIR_INDICES
 * + 1 = 64) tx queues (ixgbe_probe), and RSS at most IXGBE_MAX_RSS_INDICES
 * (16) of them. */
#define QTN_IXGBE_MAX_TC 8
#define QTN_IXGBE_TXQ 64

/* The fields of ixgbe's union ixgbe_atr_input mask that ethtool sets. */
struct qtn_nfc_mask {
	bool l4;	/* L4 type matched (not IXGBE_ATR_FLOW_TYPE_IPV4) */
	__be32 src, dst;
	__be16 psrc, pdst;
	__be16 vlan_tci, flex;
	u8 vm_pool;
};

/* Offloaded HTB (qtn_htb.c). */
#define QTN_HTB_MAX_LEAVES 16
#define QTN_HTB_MAX_NODES 32

struct qtn_htb_node {
	bool used;
	u32 classid;		/* TC_H_MIN, or TC_HTB_CLASSID_ROOT */
	u32 parent;
	int qid;		/* QoS queue index, -1 for inner nodes and the root */
	u64 rate, ceil;		/* bytes/s */
	u32 bw_share;		/* percent of the ancestor's ceil, mlx5 style */
	u32 max_average_bw;	/* Mbit/s */
};

struct qtn_htb {
	bool active;
	u32 maj, defcls;
	struct qtn_htb_node nodes[QTN_HTB_MAX_NODES];
};

/* One ethtool ntuple rule (qtn_ntuple.c), as GRXCLSRULE reports it. */
struct qtn_nfc_rule {
	struct list_head list;
	struct ethtool_rx_flow_spec fs;
};

/* One offloaded flower rule, as received in FLOW_CLS_REPLACE. */
struct qtn_rule {
	struct list_head list;
	unsigned long cookie;
	bool egress;
	char *json;	/* the rule as one JSON object (kmalloc'ed) */
};

/* The mqprio configuration the device holds (active == false: none). */
struct qtn_mqprio {
	bool active;
	u8 num_tc;
	u8 prio_tc_map[TC_QOPT_BITMASK + 1];
	u16 count[TC_QOPT_MAX_QUEUE];
	u16 offset[TC_QOPT_MAX_QUEUE];
	u16 mode;
	u16 shaper;
	u32 flags;
	u64 min_rate[TC_QOPT_MAX_QUEUE];	/* bytes/s */
	u64 max_rate[TC_QOPT_MAX_QUEUE];	/* bytes/s */
};

/* DCB state set through dcbnl (IEEE 802.1Qaz / Qbb). */
struct qtn_dcb {
	bool ets_set, maxrate_set, pfc_set;
	struct ieee_ets ets;
	struct ieee_maxrate maxrate;	/* tc_maxrate in kbit/s, as dcbnl carries it */
	struct ieee_pfc pfc;
	int napps;
	struct dcb_app apps[QTN_MAX_APPS];
};

struct qtn_priv {
	struct net_device *dev;
	enum qtn_profile profile;
	int rep_index;		/* -1: not a representor */
	unsigned int nqueues;	/* allocated tx/rx queues */

	struct mutex lock;	/* guards the fields below */
	unsigned int channels;	/* combined channels in use */
	struct qtn_mqprio mqprio;
	struct list_head rules;
	unsigned int nrules;
	struct qtn_dcb dcb;
	struct list_head nfc_rules;	/* sorted by location */
	unsigned int nfc_count;
	struct qtn_nfc_mask nfc_mask;	/* ixgbe's one mask per port */
	bool htb_capable;		/* takes TC_SETUP_QDISC_HTB (qtn4) */
	struct qtn_htb htb;
	bool has_error;
	int last_errno;
	char last_op[16];
	char last_msg[128];
	char last_detail[96];

	/* flow_block driver lists; distinct per direction (and cb_ident). */
	struct list_head ingress_cb_list;
	struct list_head egress_cb_list;
	u8 ingress_ident;
	u8 egress_ident;

	atomic64_t txq_packets[QTN_MAX_QUEUES];
	struct dentry *dbg;
};

extern const struct net_device_ops qtn_netdev_ops;

const char *qtn_profile_name(enum qtn_profile p);
const char *qtn_driver_name(const struct qtn_priv *p);

/* Returns true if this offload operation is the one fail_nth selected. */
bool qtn_should_fail(void);

/*
 * qtn_record - remember a refusal (caller holds p->lock) and log it.
 * msg already carries the "qostestnic: " prefix.
 */
void qtn_record(struct qtn_priv *p, const char *op, int err, const char *msg,
		const char *detail);

/*
 * QTN_REFUSE - refuse an operation: set the extack message (when there is an
 * extack), record it for debugfs, and evaluate to err. msg must be a literal.
 */
#define QTN_REFUSE(p, extack, op, err, msg, detail) ({			\
	NL_SET_ERR_MSG_MOD((extack), msg);				\
	qtn_record((p), (op), (err), KBUILD_MODNAME ": " msg, (detail)); \
	(err);								\
})

int qtn_setup_mqprio(struct qtn_priv *p, struct tc_mqprio_qopt_offload *m);
unsigned int qtn_rx_queues(struct qtn_priv *p);
int qtn_setup_block(struct qtn_priv *p, struct flow_block_offload *f);
void qtn_flower_free_all(struct qtn_priv *p);

extern const struct dcbnl_rtnl_ops qtn_dcbnl_ops;
extern const struct dcbnl_rtnl_ops qtn_dcbnl_ops_bnxt;

void qtn_debugfs_add(struct qtn_priv *p, struct dentry *root);

struct seq_file;
int qtn_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd, u32 *locs);
int qtn_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd);
void qtn_nfc_free_all(struct qtn_priv *p);
void qtn_nfc_show(struct seq_file *s, struct qtn_priv *p);
int qtn_setup_htb(struct qtn_priv *p, struct tc_htb_qopt_offload *o);
void qtn_htb_show(struct seq_file *s, struct qtn_priv *p);

#endif /* QTN_H */
