#include "kv/kv_cache.h"

#include <cassert>
#include <cstring>

namespace retort {

size_t KvCache::bytes_needed(const KvCacheOptions& opt) {
    const int64_t n_blocks = (opt.n_cells + opt.block_size - 1) / opt.block_size;
    const size_t elem = opt.type == DType::F32 ? 4 : 2;
    return (size_t)opt.n_layer * 2 * (size_t)n_blocks * (size_t)opt.block_size * (size_t)opt.n_embd_kv * elem;
}

Result<KvCache> KvCache::create(const KvCacheOptions& opt) {
    if (opt.type != DType::F16 && opt.type != DType::F32)
        return Error::bad_argument("KV cache type must be F16 or F32, got {}", traits(opt.type).name);
    if (opt.n_layer <= 0 || opt.n_embd_kv <= 0 || opt.n_cells <= 0 || opt.block_size <= 0 || opt.n_seq_max <= 0)
        return Error::bad_argument("KV cache: sizes must be positive (layers {}, row {}, cells {}, block {}, seqs {})",
                                   opt.n_layer, opt.n_embd_kv, opt.n_cells, opt.block_size, opt.n_seq_max);
    KvCache c;
    c.opt_ = opt;
    const int64_t n_blocks = (opt.n_cells + opt.block_size - 1) / opt.block_size;
    c.row_bytes_ = (size_t)opt.n_embd_kv * (opt.type == DType::F32 ? 4 : 2);
    c.block_bytes_ = c.row_bytes_ * (size_t)opt.block_size;
    c.storage_ = PageBuffer(bytes_needed(opt));
    if (c.storage_.data() == nullptr) {
        return Error::make(ErrorKind::kOutOfMemory, "KV cache: cannot allocate {} bytes for {} positions",
                           bytes_needed(opt), opt.n_cells);
    }
    c.pool_ = BlockPool(n_blocks, opt.block_size, (int32_t)opt.n_seq_max);
    return c;
}

Status KvCache::share_prefix(int32_t dst, int32_t src, int64_t n_pos) {
    auto tail = pool_.share_prefix(dst, src, n_pos);
    if (!tail.ok()) return tail.error();
    const BlockPool::Tail& t = tail.value();
    if (t.n == 0) return ok_status();
    // The partial block's rows sit at the same slots of the fresh block: one run per layer and K/V.
    const size_t off = (size_t)(t.pos0 % opt_.block_size) * row_bytes_, bytes = (size_t)t.n * row_bytes_;
    for (int64_t il = 0; il < opt_.n_layer; ++il)
        for (bool v : {false, true})
            std::memcpy(storage_.data() + block_offset(il, v, t.dst) + off,
                        storage_.data() + block_offset(il, v, t.src) + off, bytes);
    return ok_status();
}

size_t KvCache::block_offset(int64_t il, bool v, int32_t block) const {
    return ((size_t)(il * 2 + (v ? 1 : 0)) * (size_t)pool_.n_blocks() + (size_t)block) * block_bytes_;
}

size_t KvCache::offset(int64_t il, bool v, int32_t seq, int64_t pos) const {
    const int32_t block = pool_.table(seq)[(size_t)(pos / opt_.block_size)];
    return block_offset(il, v, block) + (size_t)(pos % opt_.block_size) * row_bytes_;
}

// The writable rows: a shared block is never written (block_pool.h), whoever asks.
uint8_t* KvCache::k_row(int64_t il, int32_t seq, int64_t pos) {
    assert(!pool_.shared(seq, pos));
    return storage_.data() + offset(il, false, seq, pos);
}
uint8_t* KvCache::v_row(int64_t il, int32_t seq, int64_t pos) {
    assert(!pool_.shared(seq, pos));
    return storage_.data() + offset(il, true, seq, pos);
}
const uint8_t* KvCache::k_row(int64_t il, int32_t seq, int64_t pos) const { return storage_.data() + offset(il, false, seq, pos); }
const uint8_t* KvCache::v_row(int64_t il, int32_t seq, int64_t pos) const { return storage_.data() + offset(il, true, seq, pos); }

}  // namespace retort
