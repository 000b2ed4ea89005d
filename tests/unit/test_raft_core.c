/* The raft core, driven by hand: a small in-process cluster where the test
 * decides which messages arrive. The randomized checking lives in tests/sim. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

#define MAXN 8

struct cl {
    int n;
    struct raft *r[MAXN + 1];
    int cut[MAXN + 1];               /* cut off: messages to and from it are dropped */
    uint64_t applied[MAXN + 1];
    uint64_t read_ctx[MAXN + 1], read_index[MAXN + 1];
    int n_reads[MAXN + 1];
    struct { uint8_t *buf; size_t len; } q[4096];
    int nq;
};

static void cl_init(struct cl *c, int voters, int learners, int pre_vote)
{
    memset(c, 0, sizeof(*c));
    c->n = voters + learners;
    struct raft_config cfg;
    raft_config_default(&cfg);
    cfg.pre_vote = pre_vote;
    for (int i = 1; i <= voters; i++) cfg.bootstrap.voters[cfg.bootstrap.n_voters++] = (uint64_t)i;
    for (int i = voters + 1; i <= c->n; i++)
        cfg.bootstrap.learners[cfg.bootstrap.n_learners++] = (uint64_t)i;
    for (int i = 1; i <= c->n; i++) {
        cfg.id = (uint64_t)i;
        cfg.seed = (uint64_t)i;
        c->r[i] = raft_new(&cfg, NULL);
        cr_assert_not_null(c->r[i]);
    }
}

static void cl_fini(struct cl *c)
{
    for (int i = 1; i <= c->n; i++) raft_free(c->r[i]);
    for (int i = 0; i < c->nq; i++) free(c->q[i].buf);
}

static void queue(struct cl *c, const struct raft_msg *m)
{
    cr_assert_lt(c->nq, 4096);
    raft_msg_encode(m, &c->q[c->nq].buf, &c->q[c->nq].len);
    c->nq++;
}

/* Handles every node's ready: persisting is a no-op here, sending queues. */
static void cl_ready(struct cl *c)
{
    for (int i = 1; i <= c->n; i++) {
        while (raft_has_ready(c->r[i])) {
            struct raft_ready rd;
            raft_ready(c->r[i], &rd);
            for (size_t k = 0; k < rd.n_msgs_now; k++) queue(c, &rd.msgs_now[k]);
            for (size_t k = 0; k < rd.n_msgs_after; k++) queue(c, &rd.msgs_after[k]);
            for (size_t k = 0; k < rd.n_committed; k++) {
                cr_assert_eq(rd.committed[k].index, c->applied[i] + 1);
                c->applied[i] = rd.committed[k].index;
            }
            for (size_t k = 0; k < rd.n_reads; k++) {
                c->read_ctx[i] = rd.reads[k].ctx;
                c->read_index[i] = rd.reads[k].index;
                c->n_reads[i]++;
            }
            raft_advance(c->r[i]);
        }
    }
}

/* Delivers until quiet. */
static void cl_settle(struct cl *c)
{
    for (int round = 0; round < 1000; round++) {
        cl_ready(c);
        if (!c->nq) return;
        int n = c->nq;
        struct { uint8_t *buf; size_t len; } batch[4096];
        memcpy(batch, c->q, sizeof(batch[0]) * (size_t)n);
        c->nq = 0;
        for (int i = 0; i < n; i++) {
            struct raft_msg m;
            long rc = raft_msg_decode(batch[i].buf, batch[i].len, &m);
            cr_assert_eq(rc, (long)batch[i].len);
            if (!c->cut[m.to] && !c->cut[m.from]) raft_step(c->r[m.to], &m);
            raft_msg_fini(&m);
            free(batch[i].buf);
        }
    }
    cr_assert_fail("cluster did not settle");
}

static void cl_ticks(struct cl *c, int node, int n)
{
    for (int i = 0; i < n; i++) {
        raft_tick(c->r[node]);
        cl_settle(c);
    }
}

static void cl_tick_all(struct cl *c, int n)
{
    for (int t = 0; t < n; t++) {
        for (int i = 1; i <= c->n; i++)
            if (!c->cut[i]) raft_tick(c->r[i]);
        cl_settle(c);
    }
}

/* Node `who` campaigns and wins: the others first tick out their start-up
 * lease (a restarted node refuses votes for an election timeout); with the
 * fixed seeds none of them times out itself on the tenth tick. */
static void cl_elect(struct cl *c, int who)
{
    for (int i = 1; i <= c->n; i++)
        if (i != who)
            for (int t = 0; t < 10; t++) raft_tick(c->r[i]);
    cl_settle(c);
    cl_ticks(c, who, 20);
    cr_assert_eq(raft_role(c->r[who]), RAFT_LEADER, "node %d did not win", who);
}

Test(raft_election, single_node_elects_itself_and_commits)
{
    struct cl c;
    cl_init(&c, 1, 0, 1);
    cr_assert_eq(raft_read_index(c.r[1], 1), RAFT_ENOTLEADER);
    cl_elect(&c, 1);
    uint64_t idx;
    cr_assert_eq(raft_propose(c.r[1], "x", 1, &idx, NULL), 0);
    cl_settle(&c);
    cr_assert_eq(raft_commit_index(c.r[1]), idx);
    cr_assert_eq(c.applied[1], idx);
    cl_fini(&c);
}

Test(raft_election, three_nodes_elect_one_leader_and_replicate)
{
    struct cl c;
    cl_init(&c, 3, 0, 1);
    cl_elect(&c, 2);
    cr_assert_eq(raft_leader(c.r[1]), 2);
    cr_assert_eq(raft_leader(c.r[3]), 2);
    uint64_t idx;
    cr_assert_eq(raft_propose(c.r[2], "hello", 5, &idx, NULL), 0);
    cr_assert_eq(raft_propose(c.r[1], "no", 2, NULL, NULL), RAFT_ENOTLEADER);
    cl_tick_all(&c, 2);
    for (int i = 1; i <= 3; i++) cr_assert_eq(c.applied[i], idx, "node %d", i);
    cl_fini(&c);
}

Test(raft_election, vote_responses_wait_for_persistence)
{
    struct cl c;
    cl_init(&c, 3, 0, 0);
    for (int t = 0; t < 10; t++) raft_tick(c.r[2]), raft_tick(c.r[3]);
    for (int i = 0; i < 20 && raft_role(c.r[1]) != RAFT_CANDIDATE; i++) raft_tick(c.r[1]);
    cr_assert_eq(raft_role(c.r[1]), RAFT_CANDIDATE);
    struct raft_ready rd;
    raft_ready(c.r[1], &rd);
    cr_assert(rd.has_hard_state);
    cr_assert_eq(rd.hard_state.vote, 1);
    cr_assert_eq(rd.n_msgs_now, 0, "vote requests must wait for the persisted vote");
    cr_assert_eq(rd.n_msgs_after, 2);
    struct raft_msg req = rd.msgs_after[0];
    req.entries = NULL;
    raft_advance(c.r[1]);
    raft_step(c.r[req.to], &req);
    raft_ready(c.r[req.to], &rd);
    cr_assert_eq(rd.n_msgs_now, 0);
    cr_assert_eq(rd.n_msgs_after, 1);
    cr_assert_eq(rd.msgs_after[0].type, RAFT_MSG_VOTE_RESP);
    cr_assert(rd.has_hard_state && rd.hard_state.vote == 1);
    raft_advance(c.r[req.to]);
    cl_fini(&c);
}

/* Commit needs floor(n/2)+1 voters, computed from the configuration. */
static void check_quorum_size(int voters)
{
    struct cl c;
    cl_init(&c, voters, 0, 0);
    cl_elect(&c, 1);
    int q = voters / 2 + 1;
    /* Keep followers 2..q-1: with the leader that is one short of a quorum. */
    for (int i = q; i <= voters; i++) c.cut[i] = 1;
    uint64_t idx;
    cr_assert_eq(raft_propose(c.r[1], "v", 1, &idx, NULL), 0);
    cl_settle(&c);
    if (voters > 1) {
        cr_assert_lt(raft_commit_index(c.r[1]), idx, "%d voters: committed with %d", voters, q - 1);
        c.cut[q] = 0;
        cl_ticks(&c, 1, 2);
    }
    cr_assert_eq(raft_commit_index(c.r[1]), idx, "%d voters: not committed with a quorum", voters);
    cl_fini(&c);
}

Test(raft_replication, quorum_is_computed_for_1_2_3_4_5_7_voters)
{
    int sizes[] = {1, 2, 3, 4, 5, 7};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) check_quorum_size(sizes[i]);
}

Test(raft_replication, flow_control_refuses_proposals_over_the_limit)
{
    struct cl c;
    cl_init(&c, 3, 0, 0);
    raft_free(c.r[1]);
    struct raft_config cfg;
    raft_config_default(&cfg);
    cfg.id = 1;
    cfg.bootstrap.n_voters = 3;
    cfg.bootstrap.voters[0] = 1;
    cfg.bootstrap.voters[1] = 2;
    cfg.bootstrap.voters[2] = 3;
    cfg.max_uncommitted_bytes = 100;
    c.r[1] = raft_new(&cfg, NULL);
    cl_elect(&c, 1);
    c.cut[2] = c.cut[3] = 1;
    char buf[60] = {0};
    cr_assert_eq(raft_propose(c.r[1], buf, 60, NULL, NULL), 0);
    cr_assert_eq(raft_propose(c.r[1], buf, 60, NULL, NULL), RAFT_ETOOBIG);
    cr_assert_str_eq(raft_strerror(RAFT_ETOOBIG),
                     "too many uncommitted bytes (max_uncommitted_bytes), retry later");
    c.cut[2] = c.cut[3] = 0;
    cl_ticks(&c, 1, 2);
    cr_assert_eq(raft_propose(c.r[1], buf, 60, NULL, NULL), 0);
    cl_fini(&c);
}

Test(raft_read, read_index_waits_for_term_commit_and_a_quorum)
{
    struct cl c;
    cl_init(&c, 3, 0, 1);
    cl_elect(&c, 1);
    cr_assert_eq(raft_read_index(c.r[1], 7), 0);
    cl_settle(&c);
    cr_assert_eq(c.n_reads[1], 1);
    cr_assert_eq(c.read_ctx[1], 7);
    cr_assert_eq(c.read_index[1], raft_commit_index(c.r[1]));
    /* Cut from both followers: the read is never confirmed. */
    c.cut[2] = c.cut[3] = 1;
    cr_assert_eq(raft_read_index(c.r[1], 8), 0);
    cl_settle(&c);
    cr_assert_eq(c.n_reads[1], 1);
    cr_assert_eq(raft_read_index(c.r[2], 9), 0, "forwarded to the leader it knows");
    cl_settle(&c);
    cr_assert_eq(c.n_reads[2], 0, "cut off: never answered");
    cl_fini(&c);
}

Test(raft_read, a_follower_read_gets_the_leaders_index)
{
    struct cl c;
    cl_init(&c, 3, 0, 1);
    cl_elect(&c, 1);
    uint64_t idx;
    cr_assert_eq(raft_propose(c.r[1], "w", 1, &idx, NULL), 0);
    c.cut[3] = 1; /* node 3 will not even have the write */
    cl_ticks(&c, 1, 2);
    c.cut[3] = 0;
    cr_assert_eq(raft_read_index(c.r[3], 42), 0);
    cl_settle(&c);
    cr_assert_eq(c.n_reads[3], 1);
    cr_assert_eq(c.read_ctx[3], 42);
    cr_assert_geq(c.read_index[3], idx, "the follower must wait for the leader's commit");
    cl_fini(&c);
}

Test(raft_membership, learner_replicates_but_never_campaigns_and_can_be_promoted)
{
    struct cl c;
    cl_init(&c, 1, 1, 1);
    cl_elect(&c, 1);
    uint64_t idx;
    cr_assert_eq(raft_propose(c.r[1], "a", 1, &idx, NULL), 0);
    cl_ticks(&c, 1, 2);
    cr_assert_eq(c.applied[2], idx);
    cl_ticks(&c, 2, 100);
    cr_assert_eq(raft_role(c.r[2]), RAFT_FOLLOWER);
    cr_assert_eq(raft_change_membership(c.r[1], RAFT_CHANGE_PROMOTE, 2), 0);
    cr_assert_eq(raft_change_membership(c.r[1], RAFT_CHANGE_ADD_LEARNER, 3), RAFT_EBUSY);
    cl_ticks(&c, 1, 2);
    cr_assert(raft_conf_has_voter(raft_conf(c.r[2]), 2));
    cr_assert_eq(raft_conf(c.r[1])->n_voters, 2);
    cl_fini(&c);
}

Test(raft_membership, changes_and_reads_wait_for_the_leaders_first_commit)
{
    struct cl c;
    cl_init(&c, 1, 0, 0);
    for (int i = 0; i < 30 && raft_role(c.r[1]) != RAFT_CANDIDATE; i++) raft_tick(c.r[1]);
    struct raft_ready rd;
    raft_ready(c.r[1], &rd);
    raft_advance(c.r[1]); /* the self-vote is durable: leader, no-op appended */
    cr_assert_eq(raft_role(c.r[1]), RAFT_LEADER);
    cr_assert_lt(raft_commit_index(c.r[1]), raft_last_index(c.r[1]));
    cr_assert_eq(raft_change_membership(c.r[1], RAFT_CHANGE_ADD_LEARNER, 2), RAFT_ENOTREADY);
    cr_assert_eq(raft_read_index(c.r[1], 1), RAFT_ENOTREADY);
    cl_settle(&c);
    cr_assert_eq(raft_change_membership(c.r[1], RAFT_CHANGE_ADD_LEARNER, 2), 0);
    cr_assert_eq(raft_change_membership(c.r[1], RAFT_CHANGE_REMOVE, 1), RAFT_EBUSY);
    cl_fini(&c);
}

Test(raft_transfer, timeout_now_hands_leadership_over)
{
    struct cl c;
    cl_init(&c, 3, 0, 1);
    cl_elect(&c, 1);
    cl_ticks(&c, 1, 2);
    cr_assert_eq(raft_transfer_leader(c.r[1], 3), 0);
    cl_settle(&c);
    cr_assert_eq(raft_role(c.r[3]), RAFT_LEADER);
    cr_assert_eq(raft_role(c.r[1]), RAFT_FOLLOWER);
    cr_assert_eq(raft_transfer_leader(c.r[3], 3), RAFT_EINVAL);
    cl_fini(&c);
}

Test(raft_election, check_quorum_makes_an_isolated_leader_step_down)
{
    struct cl c;
    cl_init(&c, 3, 0, 1);
    cl_elect(&c, 1);
    c.cut[2] = c.cut[3] = 1;
    cl_ticks(&c, 1, 25);
    cr_assert_neq(raft_role(c.r[1]), RAFT_LEADER);
    cl_fini(&c);
}

Test(raft_snapshot, lagging_follower_catches_up_from_chunks)
{
    struct cl c;
    cl_init(&c, 3, 0, 1);
    cl_elect(&c, 1);
    c.cut[3] = 1;
    for (int i = 0; i < 50; i++) cr_assert_eq(raft_propose(c.r[1], "entry", 5, NULL, NULL), 0);
    cl_ticks(&c, 1, 2);
    uint8_t snap[3000];
    memset(snap, 'S', sizeof(snap));
    cr_assert_eq(raft_compact(c.r[1], c.applied[1], snap, sizeof(snap)), 0);
    cr_assert_eq(raft_snapshot_index(c.r[1]), c.applied[1]);
    cr_assert_eq(raft_compact(c.r[1], c.applied[1], snap, sizeof(snap)), RAFT_ECOMPACTED);
    c.cut[3] = 0;
    cl_ticks(&c, 1, 30);
    cr_assert_eq(raft_snapshot_index(c.r[3]), raft_snapshot_index(c.r[1]));
    cr_assert_eq(raft_commit_index(c.r[3]), raft_commit_index(c.r[1]));
    cl_fini(&c);
}
