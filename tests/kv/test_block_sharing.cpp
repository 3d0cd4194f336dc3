// Prefix sharing in BlockPool / KvCache: reference counts, shared rows read the same as rows
// computed apart, writes never land in a shared block, truncate/clear free exactly what no one
// else holds, chains A->B->C, any freeing order, and random operation sequences checked against
// a plain model of block ownership (no leaks, no double frees).
#include "kv/block_pool.h"
#include "kv/kv_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

namespace retort {
namespace {

constexpr int64_t kBs = 4;  // small blocks: every boundary case within a few positions

KvCache make_shared_kv(int64_t n_blocks, int32_t n_seq) {
    auto kv = KvCache::create({3, 6, n_blocks * kBs, kBs, n_seq, DType::F32});
    EXPECT_TRUE(kv.ok());
    return std::move(kv.value());
}

// The row a model would compute for (layer, K/V, position, token): any function of the history
// works for the check; this one depends on the token at pos and its position.
float value(int64_t il, bool v, int64_t pos, int32_t token, int64_t i) {
    return (float)(il * 1000 + (v ? 500 : 0) + pos * 7 + token * 13 + i) * 0.25f;
}

// Appends tokens to seq the way the forward pass does: reserve, write rows at len.., set_len.
void append(KvCache& kv, int32_t seq, const std::vector<int32_t>& toks) {
    const int64_t len = kv.seq_len(seq), end = len + (int64_t)toks.size();
    ASSERT_TRUE(kv.reserve(seq, end).ok());
    const int64_t n = kv.options().n_embd_kv;
    for (int64_t p = len; p < end; ++p) {
        ASSERT_FALSE(kv.is_shared(seq, p)) << "write into a shared block at " << p;
        for (int64_t il = 0; il < kv.options().n_layer; ++il)
            for (bool v : {false, true}) {
                std::vector<float> row((size_t)n);
                for (int64_t i = 0; i < n; ++i) row[(size_t)i] = value(il, v, p, toks[(size_t)(p - len)], i);
                std::memcpy(v ? kv.v_row(il, seq, p) : kv.k_row(il, seq, p), row.data(), row.size() * 4);
            }
    }
    kv.set_len(seq, end);
}

// Every row of seq equals the one computed from `tokens` alone.
void expect_rows(const KvCache& kv, int32_t seq, const std::vector<int32_t>& tokens) {
    ASSERT_EQ(kv.seq_len(seq), (int64_t)tokens.size());
    const int64_t n = kv.options().n_embd_kv;
    int64_t bad = 0;
    for (int64_t p = 0; p < (int64_t)tokens.size(); ++p)
        for (int64_t il = 0; il < kv.options().n_layer; ++il)
            for (bool v : {false, true}) {
                const float* row = (const float*)(v ? kv.v_row(il, seq, p) : kv.k_row(il, seq, p));
                for (int64_t i = 0; i < n; ++i) bad += row[i] != value(il, v, p, tokens[(size_t)p], i);
            }
    EXPECT_EQ(bad, 0) << "sequence " << seq;
}

std::vector<int32_t> iota_tokens(int32_t first, int64_t n) {
    std::vector<int32_t> t((size_t)n);
    std::iota(t.begin(), t.end(), first);
    return t;
}

TEST(BlockSharing, ShareCountsReferencesAndCopiesOnlyTheTail) {
    KvCache kv = make_shared_kv(16, 3);
    const auto prompt = iota_tokens(100, 10);  // 2 full blocks of 4 + 2 positions
    append(kv, 0, prompt);
    EXPECT_EQ(kv.n_used_blocks(), 3);
    ASSERT_TRUE(kv.share_prefix(1, 0, 10).ok());
    EXPECT_EQ(kv.seq_len(1), 10);
    EXPECT_EQ(kv.n_used_blocks(), 4);  // 2 shared + 2 private tails
    EXPECT_EQ(kv.n_shared_blocks(), 2);
    EXPECT_EQ(kv.pool().table(1)[0], kv.pool().table(0)[0]);
    EXPECT_EQ(kv.pool().table(1)[1], kv.pool().table(0)[1]);
    EXPECT_NE(kv.pool().table(1)[2], kv.pool().table(0)[2]);
    EXPECT_EQ(kv.pool().refs(kv.pool().table(0)[0]), 2);
    EXPECT_TRUE(kv.is_shared(1, 7));
    EXPECT_FALSE(kv.is_shared(1, 8));
    expect_rows(kv, 1, prompt);
    EXPECT_EQ(kv.pool().check(), "");

    // A block-aligned prefix takes no block at all.
    ASSERT_TRUE(kv.share_prefix(2, 0, 8).ok());
    EXPECT_EQ(kv.n_used_blocks(), 4);
    EXPECT_EQ(kv.pool().refs(kv.pool().table(0)[0]), 3);
    EXPECT_EQ(kv.n_shared_blocks(), 2);
    EXPECT_EQ(kv.pool().check(), "");
}

TEST(BlockSharing, AppendingToBothGivesTheRowsOfSeparateRuns) {
    KvCache kv = make_shared_kv(32, 2);
    const auto prompt = iota_tokens(1, 13);
    append(kv, 0, prompt);
    ASSERT_TRUE(kv.share_prefix(1, 0, 13).ok());
    const auto a = iota_tokens(500, 9), b = iota_tokens(700, 6);
    append(kv, 0, a);
    append(kv, 1, b);
    auto full_a = prompt, full_b = prompt;
    full_a.insert(full_a.end(), a.begin(), a.end());
    full_b.insert(full_b.end(), b.begin(), b.end());
    expect_rows(kv, 0, full_a);
    expect_rows(kv, 1, full_b);

    // The same sequences computed apart, in a cache of their own.
    KvCache apart = make_shared_kv(32, 2);
    append(apart, 0, full_a);
    append(apart, 1, full_b);
    for (int32_t s = 0; s < 2; ++s)
        for (int64_t p = 0; p < kv.seq_len(s); ++p)
            for (int64_t il = 0; il < 3; ++il) {
                EXPECT_EQ(std::memcmp(kv.k_row(il, s, p), apart.k_row(il, s, p), kv.row_bytes()), 0);
                EXPECT_EQ(std::memcmp(kv.v_row(il, s, p), apart.v_row(il, s, p), kv.row_bytes()), 0);
            }
    // Sharing saved the 3 full blocks of the prompt.
    EXPECT_EQ(kv.n_used_blocks(), apart.n_used_blocks() - 3);
    EXPECT_EQ(kv.pool().check(), "");
}

TEST(BlockSharing, TruncateInsideASharedBlockDropsIt) {
    KvCache kv = make_shared_kv(16, 2);
    append(kv, 0, iota_tokens(1, 12));
    ASSERT_TRUE(kv.share_prefix(1, 0, 12).ok());  // 3 shared blocks, no tail
    EXPECT_EQ(kv.n_shared_blocks(), 3);
    EXPECT_EQ(kv.pool().truncated_len(1, 6), 4);
    EXPECT_EQ(kv.truncate(1, 6), 4);  // position 6 is in shared block 1: it goes, 4 positions stay
    EXPECT_EQ(kv.seq_len(1), 4);
    EXPECT_EQ(kv.n_shared_blocks(), 1);
    EXPECT_EQ(kv.n_used_blocks(), 3);  // nothing freed: seq 0 still holds them
    // Appending now writes into a fresh block and reads the same as computing it.
    append(kv, 1, iota_tokens(50, 5));
    auto want = iota_tokens(1, 4);
    const auto more = iota_tokens(50, 5);
    want.insert(want.end(), more.begin(), more.end());
    expect_rows(kv, 1, want);
    expect_rows(kv, 0, iota_tokens(1, 12));
    // A truncation inside a private block keeps the exact length.
    EXPECT_EQ(kv.truncate(1, 6), 6);
    // At a block boundary nothing is lost either.
    EXPECT_EQ(kv.truncate(0, 8), 8);
    EXPECT_EQ(kv.pool().check(), "");
}

TEST(BlockSharing, TruncateAndClearFreeExactlyWhatNoOneHolds) {
    KvCache kv = make_shared_kv(16, 3);
    append(kv, 0, iota_tokens(1, 16));  // 4 blocks
    ASSERT_TRUE(kv.share_prefix(1, 0, 14).ok());  // 3 shared + tail
    EXPECT_EQ(kv.n_free_blocks(), 11);
    kv.clear(0);  // the 3 shared blocks stay for seq 1; seq 0's 4th block is freed
    EXPECT_EQ(kv.n_free_blocks(), 12);
    EXPECT_EQ(kv.n_shared_blocks(), 0);
    expect_rows(kv, 1, iota_tokens(1, 14));
    kv.truncate(1, 5);  // keeps 2 blocks, frees 2
    EXPECT_EQ(kv.n_free_blocks(), 14);
    kv.clear(1);
    EXPECT_EQ(kv.n_free_blocks(), 16);
    EXPECT_EQ(kv.pool().check(), "");
}

TEST(BlockSharing, ChainsShareTheSameBlocks) {
    KvCache kv = make_shared_kv(32, 3);
    append(kv, 0, iota_tokens(1, 20));                // A: 5 blocks
    ASSERT_TRUE(kv.share_prefix(1, 0, 18).ok());    // B <- A: 4 shared + tail
    append(kv, 1, iota_tokens(200, 3));              // B: 21 positions
    ASSERT_TRUE(kv.share_prefix(2, 1, 21).ok());    // C <- B: 5 shared (4 of them A's) + tail
    EXPECT_EQ(kv.pool().refs(kv.pool().table(0)[0]), 3);
    EXPECT_EQ(kv.pool().refs(kv.pool().table(1)[4]), 2);
    EXPECT_EQ(kv.n_shared_blocks(), 5);
    EXPECT_EQ(kv.n_used_blocks(), 5 + 2 + 1);  // A; B: its copied tail and a block it grew; C: its tail
    auto b = iota_tokens(1, 18);
    const auto b_tail = iota_tokens(200, 3);
    b.insert(b.end(), b_tail.begin(), b_tail.end());
    expect_rows(kv, 2, b);
    kv.clear(1);  // the middle of the chain goes: A and C keep what they hold
    expect_rows(kv, 0, iota_tokens(1, 20));
    expect_rows(kv, 2, b);
    EXPECT_EQ(kv.pool().check(), "");
}

TEST(BlockSharing, FreeingOrderDoesNotMatter) {
    std::vector<int32_t> order = {0, 1, 2, 3};
    do {
        KvCache kv = make_shared_kv(32, 4);
        append(kv, 0, iota_tokens(1, 17));
        ASSERT_TRUE(kv.share_prefix(1, 0, 17).ok());
        ASSERT_TRUE(kv.share_prefix(2, 1, 9).ok());
        ASSERT_TRUE(kv.share_prefix(3, 0, 12).ok());
        append(kv, 3, iota_tokens(90, 6));
        for (int32_t s : order) {
            kv.clear(s);
            ASSERT_EQ(kv.pool().check(), "");
        }
        EXPECT_EQ(kv.n_free_blocks(), 32);
        EXPECT_EQ(kv.n_shared_blocks(), 0);
    } while (std::next_permutation(order.begin(), order.end()));
}

TEST(BlockSharing, ShareFailsCleanly) {
    KvCache kv = make_shared_kv(4, 2);
    append(kv, 0, iota_tokens(1, 15));  // all 4 blocks
    EXPECT_FALSE(kv.share_prefix(0, 0, 4).ok());    // onto itself
    EXPECT_FALSE(kv.share_prefix(1, 0, 16).ok());   // past the source's end
    Status st = kv.share_prefix(1, 0, 10);          // the tail needs a block: none free
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind, ErrorKind::kContextFull);
    EXPECT_EQ(kv.seq_len(1), 0);
    EXPECT_TRUE(kv.share_prefix(1, 0, 12).ok());    // whole blocks only: no block needed
    EXPECT_EQ(kv.n_shared_blocks(), 3);
    EXPECT_EQ(kv.pool().check(), "");
}

// A plain model of ownership: the set of (seq, index) -> block, refcounts recounted from scratch,
// every block's content tagged with the sequence tokens that wrote it.
TEST(BlockSharing, RandomOperationsAgainstAModel) {
    for (uint32_t seed = 1; seed <= 30; ++seed) {
        std::mt19937 rng(seed);
        const int32_t n_seq = 4;
        const int64_t n_blocks = 24;
        KvCache kv = make_shared_kv(n_blocks, n_seq);
        std::vector<std::vector<int32_t>> toks((size_t)n_seq);  // what each sequence must read back
        int32_t next_tok = 1;
        for (int it = 0; it < 300; ++it) {
            const int32_t s = (int32_t)(rng() % n_seq);
            const int op = (int)(rng() % 10);
            if (op < 4) {
                const int64_t n = 1 + rng() % 9;
                if (kv.blocks_missing(s, kv.seq_len(s) + n) > kv.n_free_blocks()) continue;
                auto t = iota_tokens(next_tok, n);
                next_tok += (int32_t)n;
                append(kv, s, t);
                toks[(size_t)s].insert(toks[(size_t)s].end(), t.begin(), t.end());
            } else if (op < 6) {
                const int64_t from = (int64_t)(rng() % (toks[(size_t)s].size() + 1));
                const int64_t want = kv.pool().truncated_len(s, from);
                ASSERT_LE(want, from);
                ASSERT_GE(want, from / kBs * kBs);
                const int64_t free_before = kv.n_free_blocks();
                std::vector<int64_t> keep((size_t)n_seq, -1);
                keep[(size_t)s] = from;
                const int64_t freed = kv.pool().freed_if(keep);
                EXPECT_EQ(kv.truncate(s, from), want);
                EXPECT_EQ(kv.n_free_blocks(), free_before + freed);
                toks[(size_t)s].resize((size_t)want);
            } else if (op < 9) {
                const int32_t src = (int32_t)(rng() % n_seq);
                if (src == s) continue;
                const int64_t n = (int64_t)(rng() % (toks[(size_t)src].size() + 1));
                std::vector<int64_t> keep((size_t)n_seq, -1);
                keep[(size_t)s] = 0;
                const int64_t after_clear = kv.n_free_blocks() + kv.pool().freed_if(keep);
                Status st = kv.share_prefix(s, src, n);
                if (kv.pool().share_cost(n) > after_clear) {
                    EXPECT_FALSE(st.ok());
                    toks[(size_t)s].clear();
                } else {
                    ASSERT_TRUE(st.ok()) << st.error().message;
                    EXPECT_EQ(kv.n_free_blocks(), after_clear - kv.pool().share_cost(n));
                    toks[(size_t)s].assign(toks[(size_t)src].begin(), toks[(size_t)src].begin() + n);
                }
            } else {
                kv.clear(s);
                toks[(size_t)s].clear();
            }
            ASSERT_EQ(kv.pool().check(), "") << "seed " << seed << " op " << it;
            // Physical blocks in use = distinct blocks in all tables; each sequence holds exactly
            // ceil(len / bs) blocks; every row reads back what its own tokens wrote.
            std::set<int32_t> distinct;
            std::map<int32_t, int> holders;
            for (int32_t q = 0; q < n_seq; ++q) {
                ASSERT_EQ(kv.pool().n_held(q), (kv.seq_len(q) + kBs - 1) / kBs);
                for (int32_t b : kv.pool().table(q)) {
                    distinct.insert(b);
                    ++holders[b];
                }
            }
            ASSERT_EQ(kv.n_used_blocks(), (int64_t)distinct.size());
            ASSERT_EQ(kv.n_free_blocks(), n_blocks - (int64_t)distinct.size());
            ASSERT_EQ(kv.n_shared_blocks(),
                      std::count_if(holders.begin(), holders.end(), [](const auto& h) { return h.second > 1; }));
        }
        for (int32_t q = 0; q < n_seq; ++q) expect_rows(kv, q, toks[(size_t)q]);
        for (int32_t q = 0; q < n_seq; ++q) kv.clear(q);
        EXPECT_EQ(kv.n_free_blocks(), n_blocks) << "leak, seed " << seed;
        EXPECT_EQ(kv.n_shared_blocks(), 0);
    }
}

}  // namespace
}  // namespace retort
