// KvCache bookkeeping: blocks are reserved, reused and freed exactly; a full cache fails
// cleanly; rows of different sequences never alias.
#include "kv/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

namespace retort {
namespace {

KvCache make_kv(int64_t cells, int64_t seqs, int64_t block = 4) {
    auto kv = KvCache::create({2, 8, cells, block, seqs, DType::F32});
    EXPECT_TRUE(kv.ok());
    return std::move(kv.value());
}

TEST(KvCache, ReserveTruncateFreesBlocks) {
    KvCache kv = make_kv(32, 2);
    EXPECT_EQ(kv.n_blocks(), 8);
    EXPECT_EQ(kv.n_free_blocks(), 8);
    ASSERT_TRUE(kv.reserve(0, 9).ok());  // 3 blocks of 4
    EXPECT_EQ(kv.n_free_blocks(), 5);
    kv.set_len(0, 9);
    kv.truncate(0, 5);  // keeps 2 blocks
    EXPECT_EQ(kv.seq_len(0), 5);
    EXPECT_EQ(kv.n_free_blocks(), 6);
    kv.clear(0);
    EXPECT_EQ(kv.n_free_blocks(), 8);
    EXPECT_EQ(kv.seq_len(0), 0);
}

TEST(KvCache, FullCacheIsAnErrorAndChangesNothing) {
    KvCache kv = make_kv(16, 2);
    ASSERT_TRUE(kv.reserve(0, 12).ok());
    Status st = kv.reserve(1, 8);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind, ErrorKind::kContextFull);
    EXPECT_NE(st.error().message.find("KV cache full"), std::string::npos) << st.error().message;
    EXPECT_EQ(kv.n_free_blocks(), 1);
    EXPECT_FALSE(kv.reserve(5, 1).ok());  // sequence id out of range
}

TEST(KvCache, RowsOfSequencesDoNotAlias) {
    KvCache kv = make_kv(64, 3);
    for (int s = 0; s < 3; ++s) ASSERT_TRUE(kv.reserve(s, 20).ok());
    std::set<const uint8_t*> rows;
    for (int64_t il = 0; il < 2; ++il)
        for (int s = 0; s < 3; ++s)
            for (int64_t p = 0; p < 20; ++p) {
                EXPECT_TRUE(rows.insert(kv.k_row(il, s, p)).second);
                EXPECT_TRUE(rows.insert(kv.v_row(il, s, p)).second);
            }
    // Every row lies inside the storage and rows are row_bytes apart at least.
    float v = 1.5f;
    std::memcpy(kv.k_row(1, 2, 19), &v, sizeof v);
    float back;
    std::memcpy(&back, kv.k_row(1, 2, 19), sizeof back);
    EXPECT_EQ(back, 1.5f);
}

TEST(KvCache, RejectsBadOptions) {
    EXPECT_FALSE(KvCache::create({2, 8, 0, 4, 1, DType::F32}).ok());
    EXPECT_FALSE(KvCache::create({2, 8, 16, 4, 1, DType::Q4_0}).ok());
}

}  // namespace
}  // namespace retort
