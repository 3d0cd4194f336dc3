// Decoder behaviour beyond the reference numbers: batching several sequences in one forward
// gives the same logits as running each alone; bad batches and a full cache are errors.
#include "kernels/kernel_table.h"
#include "model/decoder.h"
#include "support/test_files.h"

#include <gtest/gtest.h>

#include <cmath>

namespace retort {
namespace {


struct Fixture {
    std::unique_ptr<Model> model;
    std::unique_ptr<ThreadPool> pool;
    std::unique_ptr<Decoder> decoder;
    KvCache kv;
    Fixture(const std::string& file, int64_t n_seq, int64_t cells, int64_t n_batch = 64, int64_t block = 32,
            DType kv_type = DType::F16, int threads = 2) {
        auto m = Model::load(kData + "/tiny/" + file);
        EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
        model = std::move(m.value());
        pool = std::make_unique<ThreadPool>(threads);
        decoder = std::make_unique<Decoder>(*model, *select_kernels(), *pool, n_batch);
        auto c = KvCache::create({model->config().n_layer, model->config().n_embd_kv(), cells, block, n_seq, kv_type});
        EXPECT_TRUE(c.ok());
        kv = std::move(c.value());
    }
};

double max_diff(const float* a, const float* b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, (double)std::fabs(a[i] - b[i]));
    return m;
}

// Continuous batching's invariant: a sequence's logits do not depend on who shares its batch.
TEST(Decoder, BatchedSequencesMatchSeparateRuns) {
    for (const char* file : {"tiny-qwen2-Q4_K_M.gguf", "tiny-llama-Q8_0.gguf", "tiny-qwen2-F32.gguf"}) {
        const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 200, 7}, {3, 4}, {100, 101, 102, 103, 104, 105, 106, 107, 108}};
        const int64_t V = Fixture(file, 1, 64).model->config().n_vocab;
        // Alone: each prompt, then 3 decode steps of fixed tokens.
        std::vector<std::vector<float>> alone;
        for (const auto& p : prompts) {
            Fixture f(file, 1, 128);
            Batch b;
            for (size_t i = 0; i < p.size(); ++i) b.add(p[i], (int32_t)i, 0, i + 1 == p.size());
            std::vector<float> l;
            ASSERT_TRUE(f.decoder->forward(b, f.kv, l).ok());
            std::vector<float> all = l;
            for (int s = 0; s < 3; ++s) {
                b.clear();
                b.add(10 + s, (int32_t)(p.size() + s), 0, true);
                ASSERT_TRUE(f.decoder->forward(b, f.kv, l).ok());
                all.insert(all.end(), l.begin(), l.end());
            }
            alone.push_back(all);
        }
        // Together: all prompts in one batch (interleaved rows), then joint decode steps.
        Fixture f(file, 3, 3 * 128);
        Batch b;
        size_t longest = 0;
        for (const auto& p : prompts) longest = std::max(longest, p.size());
        for (size_t i = 0; i < longest; ++i)
            for (int s = 0; s < 3; ++s)
                if (i < prompts[s].size()) b.add(prompts[s][i], (int32_t)i, s, i + 1 == prompts[s].size());
        std::vector<float> l;
        ASSERT_TRUE(f.decoder->forward(b, f.kv, l).ok());
        // Output rows follow batch order: find which sequence each output row belongs to.
        std::vector<std::vector<float>> together(3);
        int64_t row = 0;
        for (int64_t i = 0; i < b.size(); ++i)
            if (b.logits[i]) {
                together[b.seq[i]].insert(together[b.seq[i]].end(), l.begin() + row * V, l.begin() + (row + 1) * V);
                ++row;
            }
        for (int s = 0; s < 3; ++s) {
            b.clear();
            for (int q = 0; q < 3; ++q) b.add(10 + s, (int32_t)(prompts[q].size() + s), q, true);
            ASSERT_TRUE(f.decoder->forward(b, f.kv, l).ok());
            for (int q = 0; q < 3; ++q) together[q].insert(together[q].end(), l.begin() + q * V, l.begin() + (q + 1) * V);
        }
        for (int s = 0; s < 3; ++s) {
            ASSERT_EQ(alone[s].size(), together[s].size());
            // Same rows, same kernels: only summation order inside matmul tiles may differ.
            EXPECT_LE(max_diff(alone[s].data(), together[s].data(), (int64_t)alone[s].size()), 1e-4) << file << " seq " << s;
        }
    }
}

TEST(Decoder, MicroBatchesMatchOneBatch) {
    Fixture big("tiny-llama-F32.gguf", 1, 128, 64), small("tiny-llama-F32.gguf", 1, 128, 5);
    Batch b;
    for (int i = 0; i < 23; ++i) b.add((i * 37) % 300, i, 0, true);
    std::vector<float> l1, l2;
    ASSERT_TRUE(big.decoder->forward(b, big.kv, l1).ok());
    ASSERT_TRUE(small.decoder->forward(b, small.kv, l2).ok());
    ASSERT_EQ(l1.size(), l2.size());
    EXPECT_LE(max_diff(l1.data(), l2.data(), (int64_t)l1.size()), 1e-4);
}

TEST(Decoder, RejectsBadBatches) {
    Fixture f("tiny-qwen2-Q4_0.gguf", 2, 64);
    std::vector<float> l;
    Batch b;
    EXPECT_FALSE(f.decoder->forward(b, f.kv, l).ok());  // empty
    b.add(99999, 0, 0, true);
    EXPECT_FALSE(f.decoder->forward(b, f.kv, l).ok());  // token outside vocab
    b.clear();
    b.add(1, 0, 7, true);
    EXPECT_FALSE(f.decoder->forward(b, f.kv, l).ok());  // sequence id out of range
    b.clear();
    b.add(1, 3, 0, true);
    EXPECT_FALSE(f.decoder->forward(b, f.kv, l).ok());  // gap: sequence holds 0 positions
    b.clear();
    b.add(1, 0, 0, false);
    b.add(2, 2, 0, true);
    EXPECT_FALSE(f.decoder->forward(b, f.kv, l).ok());  // non-consecutive positions
    EXPECT_EQ(f.kv.seq_len(0), 0);                        // nothing was written
}

TEST(Decoder, FullCacheIsAnError) {
    Fixture f("tiny-qwen2-Q4_0.gguf", 2, 64);  // 64 cells: two blocks of 32
    std::vector<float> l;
    Batch b;
    for (int i = 0; i < 40; ++i) b.add(1, i, 0, false);
    ASSERT_TRUE(f.decoder->forward(b, f.kv, l).ok());
    b.clear();
    for (int i = 0; i < 40; ++i) b.add(1, i, 1, false);
    Status st = f.decoder->forward(b, f.kv, l);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind, ErrorKind::kContextFull) << st.error().message;
    EXPECT_EQ(f.kv.seq_len(1), 0);
    EXPECT_EQ(f.kv.seq_len(0), 40);
}

// Re-evaluating from an earlier position (speculative decoding's rollback) overwrites cleanly.
TEST(Decoder, RewindAndRecomputeGivesSameLogits) {
    Fixture f("tiny-llama-Q4_K_M.gguf", 1, 64);
    std::vector<float> a, b2;
    Batch b;
    for (int i = 0; i < 10; ++i) b.add(i + 3, i, 0, i == 9);
    ASSERT_TRUE(f.decoder->forward(b, f.kv, a).ok());
    b.clear();
    for (int i = 6; i < 10; ++i) b.add(50 + i, i, 0, false);  // overwrite 6..9 with other tokens
    ASSERT_TRUE(f.decoder->forward(b, f.kv, b2).ok());
    b.clear();
    for (int i = 6; i < 10; ++i) b.add(i + 3, i, 0, i == 9);  // and back
    ASSERT_TRUE(f.decoder->forward(b, f.kv, b2).ok());
    EXPECT_LE(max_diff(a.data(), b2.data(), (int64_t)a.size()), 1e-4);
}

// One sequence: a prompt of n_prompt tokens (logits for the last prompt_logits), then `steps`
// tokens decoded one at a time. Returns every logit asked for, in order.
std::vector<float> prompt_then_decode(Fixture& f, int64_t n_prompt, int64_t prompt_logits, int steps) {
    const int64_t V = f.model->config().n_vocab;
    Batch b;
    for (int64_t i = 0; i < n_prompt; ++i) b.add((int32_t)((i * 37) % V), (int32_t)i, 0, i >= n_prompt - prompt_logits);
    std::vector<float> l, all;
    EXPECT_TRUE(f.decoder->forward(b, f.kv, l).ok());
    all = l;
    for (int s = 0; s < steps; ++s) {
        b.clear();
        b.add(10 + s, (int32_t)(n_prompt + s), 0, true);
        EXPECT_TRUE(f.decoder->forward(b, f.kv, l).ok());
        all.insert(all.end(), l.begin(), l.end());
    }
    return all;
}

// Attention splits a token's positions into chunks of up to 16 cache blocks and merges the chunks'
// partial softmaxes. A 1100-token prompt (micro-batches of 256) and 2 decode steps: with blocks
// of 32 (even chunks of up to 512: tokens past 512 are split in 2 or 3) and of 1 (chunks of up
// to 16: up to 69 per token, so a micro-batch's partial results exceed the 8 MiB of a wave and it
// runs in several)
// the logits of the F32-weight models match blocks of 128 (one chunk) within 1e-4 (2e-4 for
// blocks of 1: up to 69 partial results merged in float), for F16 and f32 caches. (With quantized weights the
// activations are quantized too, and a last-bit difference in an attention output can move an
// int8 step, so there the check is the next one.) At 1 and 3 threads the logits are
// bit-identical to 2 threads, since the chunking depends on the positions alone.
TEST(Decoder, ChunkedAttentionMatchesOneChunk) {
    const int64_t n_prompt = 1100;
    auto run = [&](const char* file, int64_t block, DType kv_type, int threads) {
        Fixture f(file, 1, 1280, 256, block, kv_type, threads);
        return prompt_then_decode(f, n_prompt, 40, 2);
    };
    for (const char* file : {"tiny-llama-F32.gguf", "tiny-qwen2-F32.gguf"})
        for (DType kv_type : {DType::F16, DType::F32}) {
            const std::vector<float> whole = run(file, 128, kv_type, 2);
            for (int64_t block : {32, 1}) {
                const std::vector<float> chunked = run(file, block, kv_type, 2);
                ASSERT_EQ(chunked.size(), whole.size());
                EXPECT_LE(max_diff(chunked.data(), whole.data(), (int64_t)chunked.size()), block == 1 ? 2e-4 : 1e-4)
                    << file << " kv " << traits(kv_type).name << " block " << block;
            }
        }
    for (const char* file : {"tiny-qwen2-Q4_K_M.gguf", "tiny-llama-F32.gguf"}) {
        const std::vector<float> two = run(file, 32, DType::F16, 2);
        EXPECT_EQ(run(file, 32, DType::F16, 1), two) << file;
        EXPECT_EQ(run(file, 32, DType::F16, 3), two) << file;
    }
}

// With fewer attention tasks than threads, plan_attention splits each by KV heads: each head's
// output must be the one a single task computes. Decoding one sequence under a chunk of positions
// gives one task (split at 2 and 3 threads); at 600 positions a token has two chunks, whose
// partial results are combined (split at 4 threads).
TEST(Decoder, AttentionSplitByHeadsMatchesOneThread) {
    auto run = [&](const char* file, DType kv_type, int64_t n_prompt, int threads) {
        Fixture f(file, 1, 640, 64, 32, kv_type, threads);
        return prompt_then_decode(f, n_prompt, 0, 3);
    };
    // tiny-qwen2 has 2 KV heads.
    for (const char* file : {"tiny-qwen2-F32.gguf", "tiny-qwen2-Q4_K_M.gguf"})
        for (DType kv_type : {DType::F16, DType::F32}) {
            const std::vector<float> one = run(file, kv_type, 12, 1);
            EXPECT_EQ(run(file, kv_type, 12, 2), one) << file << " kv " << traits(kv_type).name;
            EXPECT_EQ(run(file, kv_type, 12, 3), one) << file << " kv " << traits(kv_type).name;
            EXPECT_EQ(run(file, kv_type, 600, 4), run(file, kv_type, 600, 1))
                << file << " kv " << traits(kv_type).name << " two chunks";
        }
}

}  // namespace
}  // namespace retort
