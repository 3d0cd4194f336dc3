#include "model/decoder.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstring>

namespace retort {

namespace {

// y = x / rms(x) * w over n elements; the sum of squares in double, as ggml does, in kLanes
// partial sums that the compiler vectorizes. One running sum is a chain of dependent adds: the
// norms took 0.8% of a 2-thread decode step (1.5B, Q4_0), 0.5% in this form (docs/bench.md).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    constexpr int64_t kLanes = 8;
    double part[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int64_t j = 0; j < kLanes; ++j) part[j] += (double)x[i + j] * x[i + j];
    double sum = 0;
    for (; i < n; ++i) sum += (double)x[i] * x[i];
    for (const double p : part) sum += p;
    const float scale = 1.0f / std::sqrt((float)(sum / n) + eps);
    for (i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

void add_inplace(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// One K or V row into the cache: F16 through the table's converter (SIMD, same rounding as
// f32_to_fp16), or f32 as is.
void store_kv_row(const KernelTable& kt, uint8_t* dst, const float* src, int64_t n, bool f16) {
    if (f16) kt.from_float[(int)DType::F16](src, dst, n);
    else std::memcpy(dst, src, (size_t)n * sizeof(float));
}

// Attention splits a token's positions into chunks of at most this many cache blocks (512
// positions at the default block size), as few as that allows, sharing the blocks evenly: one
// task each, so a decode step at depth spreads over every thread. Even chunks decoded 3-5%
// faster than chunks of 512 and a remainder at depths 600 and 1100 (docs/bench.md).
// A task reads whole cache rows, every KV head of its positions: with one task per KV head, each
// thread read every other 256 bytes of the rows, which streams at 19 GB/s on the 2-core VMs we
// measure on against 49 GB/s for contiguous halves. The chunking depends on the position count
// alone, so a token's result does not depend on the batch or the thread count.
constexpr int64_t kAttnChunkBlocks = 16;
// Partial results of split tokens are combined after each wave of tasks that fits this.
constexpr size_t kAttnPartialBytes = size_t{8} << 20;

// f(k, ith) for every k < n, split over the pool's threads (ith: the thread). One task runs on
// the caller: a dispatch would cost more, and would stop the workers reading ahead
// (ThreadPool::run's `warm`).
template <class F>
void for_each_task(ThreadPool& pool, int64_t n, const F& f) {
    if (n <= 1) {
        if (n == 1) f(0, 0);
        return;
    }
    pool.run([&](int ith, int nth) {
        int64_t k0, k1;
        split_range(n, ith, nth, &k0, &k1);
        for (int64_t k = k0; k < k1; ++k) f(k, ith);
    });
}

// Chunks of chunk positions that hold positions [0, pos].
int64_t chunks_of(int64_t pos, int64_t chunk) { return pos / chunk + 1; }

}  // namespace

Decoder::Decoder(const Model& model, const KernelTable& kernels, ThreadPool& pool, int64_t n_batch)
    : model_(model), cfg_(model.config()), w_(model.weights()), kt_(kernels), pool_(pool), n_batch_(n_batch) {
    const auto B = (size_t)n_batch;
    x_.resize(B * cfg_.n_embd);
    xn_.resize(B * cfg_.n_embd);
    q_.resize(B * cfg_.n_embd_q());
    k_.resize(B * cfg_.n_embd_kv());
    v_.resize(B * cfg_.n_embd_kv());
    attn_.resize(B * cfg_.n_embd_q());
    tmp_.resize(B * cfg_.n_embd);
    gate_.resize(B * cfg_.n_ff);
    up_.resize(B * cfg_.n_ff);
    const int64_t half = cfg_.n_rot / 2;
    rope_cos_.resize(B * half);
    rope_sin_.resize(B * half);
    // theta(p, i) = p * freq_scale * base^(-2i / n_rot) / rope_freqs[i]
    inv_freq_.resize((size_t)half);
    for (int64_t i = 0; i < half; ++i) {
        double f = std::pow((double)cfg_.rope_base, -2.0 * i / cfg_.n_rot) * cfg_.rope_freq_scale;
        if (w_.rope_freqs != nullptr) f /= w_.rope_freqs[i];
        inv_freq_[(size_t)i] = (float)f;
    }
    attn_scratch_.resize((size_t)pool.size());
}

size_t Decoder::scratch_bytes_for(const ModelConfig& c, int64_t n_batch, int64_t n_ctx, int n_threads) {
    const size_t per_tok = 4 * (size_t)(3 * c.n_embd + 2 * c.n_embd_q() + 2 * c.n_embd_kv() + 2 * c.n_ff + c.n_rot);
    // Converted activations (act_, act2_, act_ff_), ~<= f16.
    const size_t acts = (size_t)n_batch * (size_t)(c.n_ff + 2 * c.n_embd) * 2;
    // Per thread: one chunk's scores, maxima and sums for every head (at the default block
    // size); the split tokens' partial results, up to kAttnPartialBytes a wave unless one token
    // needs more.
    const int64_t chunk = kAttnChunkBlocks * KvCacheOptions{}.block_size, n_chunks = chunks_of(n_ctx - 1, chunk);
    const size_t slot_bytes = 4 * (size_t)(c.n_head * (c.head_dim + 2));
    const size_t attn = (size_t)n_threads * 4 * (size_t)c.n_head * (size_t)(std::min(n_ctx, chunk) + 2) +
                        std::max((size_t)n_chunks * slot_bytes,
                                 std::min(kAttnPartialBytes, (size_t)(n_batch * n_chunks) * slot_bytes));
    const size_t logits = 4 * (size_t)c.n_vocab * (size_t)n_batch;
    return per_tok * (size_t)n_batch + acts + attn + logits;
}

size_t Decoder::scratch_bytes() const {
    size_t n = (x_.size() + xn_.size() + q_.size() + k_.size() + v_.size() + attn_.size() + tmp_.size() +
                gate_.size() + up_.size() + rope_cos_.size() + rope_sin_.size()) * sizeof(float);
    n += act_.bytes.capacity() + act2_.bytes.capacity() + act_ff_.bytes.capacity();
    for (const auto& s : attn_scratch_) n += s.capacity() * sizeof(float);
    n += attn_partials_.capacity() * sizeof(float);
    return n;
}

Status Decoder::validate(const Batch& b, const KvCache& kv) const {
    const int64_t n = b.size();
    if (n == 0) return Error::bad_argument("empty batch");
    if ((int64_t)b.pos.size() != n || (int64_t)b.seq.size() != n || (int64_t)b.logits.size() != n)
        return Error::bad_argument("batch arrays differ in length");
    const int64_t n_seq = kv.options().n_seq_max;
    std::vector<int64_t> next(n_seq, -1);  // expected next position per sequence in this batch
    for (int64_t i = 0; i < n; ++i) {
        if (b.tokens[i] < 0 || b.tokens[i] >= cfg_.n_vocab)
            return Error::bad_argument("token id {} at batch row {} is outside the vocabulary [0, {})", b.tokens[i],
                                       i, cfg_.n_vocab);
        const int32_t s = b.seq[i];
        if (s < 0 || s >= n_seq)
            return Error::bad_argument("sequence id {} at batch row {} is outside [0, {})", s, i, n_seq);
        if (next[s] < 0) {
            if (b.pos[i] < 0 || b.pos[i] > kv.seq_len(s))
                return Error::bad_argument("position {} of sequence {} leaves a gap: the sequence holds {} positions",
                                           b.pos[i], s, kv.seq_len(s));
        } else if (b.pos[i] != next[s]) {
            return Error::bad_argument("positions of sequence {} must be consecutive: got {} after {}", s, b.pos[i],
                                       next[s] - 1);
        }
        next[s] = b.pos[i] + 1;
    }
    for (int64_t s = 0; s < n_seq; ++s)
        if (next[s] > kv.capacity())
            return Error::make(ErrorKind::kContextFull, "sequence {} would reach {} positions; the context holds {}",
                               s, next[s], kv.capacity());
    return ok_status();
}

Status Decoder::forward(const Batch& b, KvCache& kv, std::vector<float>& logits) {
    RETORT_TRY(validate(b, kv));
    // Reserve cache blocks for every sequence first, so a full cache fails before any change.
    const int64_t n_seq = kv.options().n_seq_max;
    std::vector<int64_t> first(n_seq, -1), end(n_seq, -1);
    for (int64_t i = 0; i < b.size(); ++i) {
        const int32_t s = b.seq[i];
        if (first[s] < 0) first[s] = b.pos[i];
        end[s] = b.pos[i] + 1;
    }
    // All or nothing: count the blocks every sequence still needs before touching the cache.
    int64_t missing = 0;
    for (int64_t s = 0; s < n_seq; ++s)
        if (first[s] >= 0) missing += kv.blocks_missing((int32_t)s, end[s]);
    if (missing > kv.n_free_blocks())
        return Error::make(ErrorKind::kContextFull,
                           "KV cache full: this batch needs {} more blocks of {} positions, {} are free", missing,
                           kv.options().block_size, kv.n_free_blocks());
    for (int64_t s = 0; s < n_seq; ++s) {
        if (first[s] < 0) continue;
        kv.truncate((int32_t)s, first[s]);  // overwrite from the first new position
        Status st = kv.reserve((int32_t)s, end[s]);
        assert(st.ok());
        (void)st;
    }

    logits.resize((size_t)(b.n_outputs() * cfg_.n_vocab));
    float* out = logits.data();
    for (int64_t t0 = 0; t0 < b.size(); t0 += n_batch_) {
        const int64_t n_tok = std::min(n_batch_, b.size() - t0);
        int64_t n_out = 0;
        for (int64_t i = t0; i < t0 + n_tok; ++i) n_out += b.logits[i];
        forward_chunk(b, t0, n_tok, kv, out);
        out += n_out * cfg_.n_vocab;
    }
    return ok_status();
}

// Rotates pairs of each head's first n_rot dims by theta(pos, i); cos/sin prepared per token.
void Decoder::rope(float* x, int64_t n_tok, int64_t n_heads) {
    const int64_t hd = cfg_.head_dim, half = cfg_.n_rot / 2;
    const bool neox = cfg_.arch->rope_style == RopeStyle::kNeoX;
    for (int64_t t = 0; t < n_tok; ++t) {
        const float* c = &rope_cos_[(size_t)(t * half)];
        const float* s = &rope_sin_[(size_t)(t * half)];
        for (int64_t h = 0; h < n_heads; ++h) {
            float* v = x + (t * n_heads + h) * hd;
            for (int64_t i = 0; i < half; ++i) {
                // normal: pair (2i, 2i+1); NeoX: pair (i, i + n_rot/2)
                const int64_t a = neox ? i : 2 * i, bb = neox ? i + half : 2 * i + 1;
                const float x0 = v[a], x1 = v[bb];
                v[a] = x0 * c[i] - x1 * s[i];
                v[bb] = x0 * s[i] + x1 * c[i];
            }
        }
    }
}

// The micro-batch's attention work, the same for every layer: tasks of one token and one chunk
// of positions (kAttnChunkBlocks), in waves whose split tokens' slots fit kAttnPartialBytes. A
// token with one chunk writes its output directly; one with more leaves each chunk's maxima,
// sums and unnormalized output in a slot (numbered within the wave) for combine_chunks.
// With fewer tasks than threads (decoding one sequence at under a chunk of positions), each task
// is split by KV heads, so the threads share what was one thread's serial work between two
// products.
void Decoder::plan_attention(const Batch& b, int64_t t0, int64_t n_tok, const KvCache& kv) {
    const int64_t block = kv.options().block_size, chunk = kAttnChunkBlocks * block;
    int64_t longest = 1, n_chunks_all = 0;
    for (int64_t t = 0; t < n_tok; ++t) {
        const int64_t n_chunks = chunks_of(b.pos[t0 + t], chunk);
        longest = std::max(longest, n_chunks);
        n_chunks_all += n_chunks;
    }
    const int64_t head_parts = std::clamp<int64_t>(pool_.size() / std::max<int64_t>(n_chunks_all, 1), 1, cfg_.n_head_kv);
    const int64_t max_slots = std::max(longest, (int64_t)(kAttnPartialBytes / sizeof(float)) / attn_slot_floats());
    attn_tasks_.clear();
    attn_splits_.clear();
    attn_waves_.clear();
    int64_t n_slots = 0, most_slots = 0;
    for (int64_t t = 0; t < n_tok; ++t) {
        const int64_t n_pos = b.pos[t0 + t] + 1, n_chunks = chunks_of(b.pos[t0 + t], chunk);
        if (n_chunks > 1 && n_slots + n_chunks > max_slots) {  // this token starts the next wave
            attn_waves_.push_back({attn_tasks_.size(), attn_splits_.size()});
            n_slots = 0;
        }
        const int64_t first_slot = n_chunks > 1 ? n_slots : -1;
        // The chunks share the blocks evenly: 600 positions split 320 + 280, not 512 + 88.
        const int64_t n_blocks = kv.pool().blocks_for(n_pos), len = (n_blocks + n_chunks - 1) / n_chunks * block;
        for (int64_t c = 0; c < n_chunks; ++c)
            for (int64_t i = 0; i < head_parts; ++i) {
                AttnTask task{t, c * len, std::min(n_pos, (c + 1) * len), n_chunks > 1 ? first_slot + c : -1, 0, 0};
                split_range(cfg_.n_head_kv, (int)i, (int)head_parts, &task.hk_begin, &task.hk_end);
                attn_tasks_.push_back(task);
            }
        if (n_chunks > 1) {
            attn_splits_.push_back({t, first_slot, n_chunks});
            n_slots += n_chunks;
            most_slots = std::max(most_slots, n_slots);
        }
    }
    attn_waves_.push_back({attn_tasks_.size(), attn_splits_.size()});
    const size_t partials = (size_t)(most_slots * attn_slot_floats());
    if (attn_partials_.size() < partials) attn_partials_.resize(partials);
}

// softmax(q·Kᵀ / sqrt(head_dim)) · V per query head over positions [0, pos] of its sequence: the
// planned tasks of each wave over the pool, then the wave's split tokens combined.
void Decoder::attention(int64_t il, const Batch& b, int64_t t0, const KvCache& kv) {
    size_t task0 = 0, split0 = 0;
    for (const AttnWave& wave : attn_waves_) {
        for_each_task(pool_, (int64_t)(wave.tasks_end - task0), [&](int64_t k, int ith) {
            attend_chunk(il, b, t0, attn_tasks_[task0 + (size_t)k], kv, attn_scratch_[(size_t)ith]);
        });
        for_each_task(pool_, (int64_t)(wave.splits_end - split0),
                      [&](int64_t u, int) { combine_chunks(attn_splits_[split0 + (size_t)u]); });
        task0 = wave.tasks_end;
        split0 = wave.splits_end;
    }
}

// One task: pass 1 writes the scores of each of its query heads over the chunk and their maxima,
// then exp and sum; pass 2 adds the p-weighted V rows into the output heads. Blocks are walked in
// order, each of the task's KV heads of a block before the next block, so it reads its rows whole
// (all of a row when the task has every KV head). An
// F16 cache goes through the table's group kernels, which read each row once for the g query
// heads of its KV head and prefetch the block read next (the next K block; after the last, the
// chunk's first V block); an f32 cache runs the one-head kernels on the rows where they lie.
void Decoder::attend_chunk(int64_t il, const Batch& b, int64_t t0, const AttnTask& task, const KvCache& kv,
                           std::vector<float>& scratch) {
    const int64_t hd = cfg_.head_dim, g = cfg_.n_gqa(), H = cfg_.n_head;
    const bool f16 = kv.options().type == DType::F16;
    const int64_t block = kv.options().block_size;
    const int64_t row_elems = (int64_t)kv.row_bytes() / (f16 ? 2 : 4);  // stride between positions
    const float scale = 1.0f / std::sqrt((float)hd);
    const int32_t seq = b.seq[t0 + task.t];
    const int64_t p_begin = task.p_begin, p_end = task.p_end, n = p_end - p_begin;
    if (scratch.size() < (size_t)(H * (n + 2))) scratch.resize((size_t)(H * (n + 2)));
    float* mx = scratch.data();  // [H]: max score per head
    float* sum = mx + H;         // [H]: softmax denominator over the chunk
    float* scores = sum + H;     // [H, n]
    const float* q = &q_[(size_t)(task.t * H * hd)];
    float* o = task.slot < 0 ? &attn_[(size_t)(task.t * H * hd)] : attn_slot(task.slot) + 2 * H;
    // KV head hk's part of the row of position p.
    auto head_row = [&](bool v, int64_t p, int64_t hk) {
        return (v ? kv.v_row(il, seq, p) : kv.k_row(il, seq, p)) + (size_t)(hk * hd) * (f16 ? 2 : 4);
    };
    auto f16_block = [&](bool v, int64_t p0, int64_t hk) {
        F16Rows r{reinterpret_cast<const uint16_t*>(head_row(v, p0, hk)), std::min(block, p_end - p0), row_elems,
                  nullptr, 0};
        const bool last = p0 + block >= p_end;
        if (!(v && last)) {
            const int64_t p1 = last ? p_begin : p0 + block;  // after K's last block: V's first
            r.next = reinterpret_cast<const uint16_t*>(head_row(v || last, p1, hk));
            r.n_next = std::min(block, p_end - p1);
        }
        return r;
    };
    auto f32_block = [&](bool v, int64_t p0, int64_t hk) {
        return reinterpret_cast<const float*>(head_row(v, p0, hk));
    };
    // The task's query heads: those of its KV heads.
    const int64_t hk0 = task.hk_begin, hk1 = task.hk_end, h0 = hk0 * g, h1 = hk1 * g;
    std::fill(mx + h0, mx + h1, -INFINITY);
    for (int64_t p0 = p_begin; p0 < p_end; p0 += block) {
        const int64_t nb = std::min(block, p_end - p0), at = p0 - p_begin;
        for (int64_t hk = hk0; hk < hk1; ++hk) {
            const float* qg = q + hk * g * hd;
            float* sg = scores + hk * g * n + at;
            if (f16) {
                kt_.attn_scores_f16(f16_block(false, p0, hk), hd, g, qg, scale, sg, n, mx + hk * g);
                continue;
            }
            for (int64_t j = 0; j < g; ++j)
                mx[hk * g + j] = std::max(mx[hk * g + j], kt_.attn_scores(nb, hd, f32_block(false, p0, hk), row_elems,
                                                                        qg + j * hd, scale, sg + j * n));
        }
    }
    for (int64_t h = h0; h < h1; ++h) sum[h] = kt_.exp_sum(n, scores + h * n, mx[h]);
    std::fill(o + h0 * hd, o + h1 * hd, 0.0f);
    for (int64_t p0 = p_begin; p0 < p_end; p0 += block) {
        const int64_t nb = std::min(block, p_end - p0), at = p0 - p_begin;
        for (int64_t hk = hk0; hk < hk1; ++hk) {
            const float* pg = scores + hk * g * n + at;
            float* og = o + hk * g * hd;
            if (f16) {
                kt_.attn_accum_f16(f16_block(true, p0, hk), hd, g, pg, n, og);
                continue;
            }
            for (int64_t j = 0; j < g; ++j) kt_.attn_accum(nb, hd, f32_block(true, p0, hk), row_elems, pg + j * n, og + j * hd);
        }
    }
    if (task.slot >= 0) {
        float* slot = attn_slot(task.slot);
        std::copy(mx + h0, mx + h1, slot + h0);
        std::copy(sum + h0, sum + h1, slot + H + h0);
        return;
    }
    for (int64_t h = h0; h < h1; ++h) {
        const float inv = 1.0f / sum[h];
        for (int64_t d = 0; d < hd; ++d) o[h * hd + d] *= inv;
    }
}

// A split token's output from its chunks' slots (in chunk order): each chunk's output and sum
// weighted by exp(its max - the overall max), then divided by the weighted sum.
void Decoder::combine_chunks(const AttnSplit& split) {
    const int64_t hd = cfg_.head_dim, H = cfg_.n_head;
    float* out = &attn_[(size_t)(split.t * H * hd)];
    for (int64_t h = 0; h < H; ++h) {
        float m = -INFINITY;
        for (int64_t c = 0; c < split.n_chunks; ++c) m = std::max(m, attn_slot(split.first_slot + c)[h]);
        float* oh = out + h * hd;
        std::fill(oh, oh + hd, 0.0f);
        float l = 0;
        for (int64_t c = 0; c < split.n_chunks; ++c) {
            const float* slot = attn_slot(split.first_slot + c);
            const float w = std::exp(slot[h] - m);
            l += w * slot[H + h];
            const float* oc = slot + 2 * H + h * hd;
            for (int64_t d = 0; d < hd; ++d) oh[d] += w * oc[d];
        }
        const float inv = 1.0f / l;
        for (int64_t d = 0; d < hd; ++d) oh[d] *= inv;
    }
}

// The matrices' products with xn_, fused into one dispatch where they can be (matmul_fused).
// xn_ is converted once per activation format the matrices take (the _M mixes give wv or
// ffn_up other types than their neighbours): act_ holds the first format, act2_ a second; a
// third (no file we know has one) first runs the products gathered so far.
void Decoder::project(int64_t n_tok, std::initializer_list<Projection> projections,
                      std::span<const Matrix* const> next, const ThreadPool::Job* then) {
    constexpr size_t kMax = 3;
    assert(projections.size() <= kMax);
    ActBuffer* const bufs[2] = {&act_, &act2_};
    int n_bufs = 0;
    std::array<MatmulPart, kMax> parts{};
    size_t n_parts = 0;
    for (const Projection& p : projections) {
        const DType type = p.w.traits->vec_dot_type;
        const ActBuffer* a = nullptr;
        for (int i = 0; i < n_bufs; ++i)
            if (bufs[i]->type == type) a = bufs[i];
        if (a == nullptr) {
            if (n_bufs == 2) {
                matmul_fused(kt_, pool_, {parts.data(), n_parts});
                n_parts = 0;
                n_bufs = 0;
            }
            convert_acts(kt_, pool_, xn_.data(), n_tok, cfg_.n_embd, type, *bufs[n_bufs]);
            a = bufs[n_bufs++];
        }
        parts[n_parts++] = {&p.w, a, p.y, p.w.rows};
    }
    matmul_fused(kt_, pool_, {parts.data(), n_parts}, next, then);
}

void Decoder::forward_chunk(const Batch& b, int64_t t0, int64_t n_tok, KvCache& kv, float* logits_out) {
    const int64_t E = cfg_.n_embd, EQ = cfg_.n_embd_q(), EKV = cfg_.n_embd_kv(), FF = cfg_.n_ff;
    const bool kv_f16 = kv.options().type == DType::F16;

    // Token embeddings: x[t] = token_embd[token]
    const Matrix& emb = w_.token_embd;
    for (int64_t t = 0; t < n_tok; ++t)
        emb.traits->dequantize_row(emb.row(b.tokens[t0 + t]), &x_[(size_t)(t * E)], E);

    // RoPE angles for this chunk's positions, shared by all layers and heads.
    const int64_t half = cfg_.n_rot / 2;
    for (int64_t t = 0; t < n_tok; ++t) {
        const double p = b.pos[t0 + t];
        for (int64_t i = 0; i < half; ++i) {
            const double theta = p * inv_freq_[(size_t)i];
            rope_cos_[(size_t)(t * half + i)] = (float)std::cos(theta);
            rope_sin_[(size_t)(t * half + i)] = (float)std::sin(theta);
        }
    }

    for (int64_t t = 0; t < n_tok; ++t) {
        const int32_t s = b.seq[t0 + t];
        kv.set_len(s, std::max<int64_t>(kv.seq_len(s), b.pos[t0 + t] + 1));
    }

    plan_attention(b, t0, n_tok, kv);
    for (int64_t il = 0; il < cfg_.n_layer; ++il) {
        const LayerWeights& L = w_.layers[(size_t)il];
        // The product after this layer's last: the next layer's first, or the output matrix.
        std::array<const Matrix*, 3> after_layer{&w_.output};
        size_t n_after = 1;
        if (il + 1 < cfg_.n_layer) {
            const LayerWeights& N = w_.layers[(size_t)(il + 1)];
            after_layer = {&N.wq, &N.wk, &N.wv};
            n_after = 3;
        }

        // Attention block: xn = rmsnorm(x) * attn_norm; q, k, v projections (+ biases).
        for (int64_t t = 0; t < n_tok; ++t) rms_norm(&x_[(size_t)(t * E)], L.attn_norm, &xn_[(size_t)(t * E)], E, cfg_.rms_eps);
        const Matrix* const wo = &L.wo;
        project(n_tok, {{L.wq, q_.data()}, {L.wk, k_.data()}, {L.wv, v_.data()}}, {&wo, 1});
        if (L.bq != nullptr)
            for (int64_t t = 0; t < n_tok; ++t) add_inplace(&q_[(size_t)(t * EQ)], L.bq, EQ);
        if (L.bk != nullptr)
            for (int64_t t = 0; t < n_tok; ++t) add_inplace(&k_[(size_t)(t * EKV)], L.bk, EKV);
        if (L.bv != nullptr)
            for (int64_t t = 0; t < n_tok; ++t) add_inplace(&v_[(size_t)(t * EKV)], L.bv, EKV);

        rope(q_.data(), n_tok, cfg_.n_head);
        rope(k_.data(), n_tok, cfg_.n_head_kv);

        // Append this chunk's K and V to the cache before attending, so a token sees itself
        // and the earlier tokens of the same chunk.
        for (int64_t t = 0; t < n_tok; ++t) {
            const int32_t s = b.seq[t0 + t];
            const int64_t p = b.pos[t0 + t];
            store_kv_row(kt_, kv.k_row(il, s, p), &k_[(size_t)(t * EKV)], EKV, kv_f16);
            store_kv_row(kt_, kv.v_row(il, s, p), &v_[(size_t)(t * EKV)], EKV, kv_f16);
        }
        attention(il, b, t0, kv);

        // x += attn · Woᵀ
        const std::array<const Matrix*, 2> gate_up{&L.ffn_gate, &L.ffn_up};
        matmul_f32(kt_, pool_, L.wo, attn_.data(), n_tok, tmp_.data(), E, act_, gate_up);
        for (int64_t t = 0; t < n_tok; ++t) add_inplace(&x_[(size_t)(t * E)], &tmp_[(size_t)(t * E)], E);

        // FFN block: x += (silu(xn · Wgateᵀ) * (xn · Wupᵀ)) · Wdownᵀ. Every thread takes a share
        // of the SwiGLU and of converting its output for ffn_down as soon as gate and up are
        // written, in the same dispatch (matmul_fused's `then`). On the caller alone the SwiGLU
        // took 0.9% of a 2-thread decode step (1.5B, Q4_0), twice its time on rows already in its
        // cache: up's rows were in the other core's (docs/bench.md).
        for (int64_t t = 0; t < n_tok; ++t) rms_norm(&x_[(size_t)(t * E)], L.ffn_norm, &xn_[(size_t)(t * E)], E, cfg_.rms_eps);
        const Matrix* const down = &L.ffn_down;
        const DType ff_type = L.ffn_down.traits->vec_dot_type;
        const int64_t ff_block = traits(ff_type).block_elems;
        prepare_acts(n_tok, FF, ff_type, act_ff_);
        const ThreadPool::Job swiglu = [&](int ith, int nth) {
            int64_t b0, b1;
            split_range(FF / ff_block, ith, nth, &b0, &b1);
            if (b0 == b1) return;
            for (int64_t t = 0; t < n_tok; ++t) {
                float* g = &gate_[(size_t)(t * FF)];
                kt_.silu_mul((b1 - b0) * ff_block, g + b0 * ff_block, &up_[(size_t)(t * FF + b0 * ff_block)]);
                convert_blocks(kt_, g, t, b0, b1, act_ff_);
            }
        };
        project(n_tok, {{L.ffn_gate, gate_.data()}, {L.ffn_up, up_.data()}}, {&down, 1}, &swiglu);
        const MatmulPart down_part{&L.ffn_down, &act_ff_, tmp_.data(), E};
        matmul_fused(kt_, pool_, {&down_part, 1}, {after_layer.data(), n_after});
        for (int64_t t = 0; t < n_tok; ++t) add_inplace(&x_[(size_t)(t * E)], &tmp_[(size_t)(t * E)], E);
    }

    // Output: only the rows whose logits were asked for.
    int64_t n_out = 0;
    for (int64_t t = 0; t < n_tok; ++t) {
        if (!b.logits[t0 + t]) continue;
        rms_norm(&x_[(size_t)(t * E)], w_.output_norm, &xn_[(size_t)(n_out * E)], E, cfg_.rms_eps);
        ++n_out;
    }
    // Next comes the first product of the next step, most likely.
    const LayerWeights& L0 = w_.layers[0];
    const std::array<const Matrix*, 3> first{&L0.wq, &L0.wk, &L0.wv};
    if (n_out > 0) matmul_f32(kt_, pool_, w_.output, xn_.data(), n_out, logits_out, cfg_.n_vocab, act_, first);
}

}  // namespace retort
