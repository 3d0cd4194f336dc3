// Engine::load sizing: the KV cache gives every one of n_seq sequences its full n_ctx
// positions, whatever n_ctx is modulo the cache's block size, and a context that cannot fit in
// memory is refused at load rather than killed once it fills.
#include "engine/engine.h"
#include "support/test_files.h"

#include <gtest/gtest.h>

namespace retort {
namespace {


TEST(Engine, EverySequenceHoldsTheWholeContext) {
    for (int64_t n_ctx : {1, 17, 32, 33, 100}) {
        EngineOptions opt;
        opt.n_threads = 1;
        opt.n_ctx = n_ctx;
        opt.n_seq = 8;
        auto e = Engine::load(kTinyQwen2, opt);
        ASSERT_TRUE(e.ok()) << e.error().message;
        Engine& engine = *e.value();
        std::vector<float> logits;
        for (int32_t s = 0; s < 8; ++s) {
            Batch batch;
            for (int64_t i = 0; i < n_ctx; ++i) batch.add(1 + (int32_t)i % 50, (int32_t)i, s, i + 1 == n_ctx);
            const Status st = engine.step(batch, logits);
            EXPECT_TRUE(st.ok()) << "n_ctx " << n_ctx << " sequence " << s << ": " << st.error().message;
        }
    }
}

TEST(Engine, RefusesAContextWhoseCacheCannotFitInMemory) {
    EngineOptions opt;
    opt.n_threads = 1;
    opt.n_ctx = kMaxContext;  // the most --ctx allows: 2^36 positions in all, terabytes of KV
    opt.n_seq = 4096;
    auto e = Engine::load(kTinyQwen2, opt);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().kind, ErrorKind::kBadArgument);
    EXPECT_NE(e.error().message.find("GiB of memory available"), std::string::npos) << e.error().message;

    opt.n_ctx = kMaxContext + 1;
    opt.n_seq = 1;
    e = Engine::load(kTinyQwen2, opt);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().message.find("is more than"), std::string::npos) << e.error().message;
}

}  // namespace
}  // namespace retort
