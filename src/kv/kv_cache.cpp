#include "kv/kv_cache.h"

#include <algorithm>

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
    c.n_blocks_ = (opt.n_cells + opt.block_size - 1) / opt.block_size;
    c.row_bytes_ = (size_t)opt.n_embd_kv * (opt.type == DType::F32 ? 4 : 2);
    c.block_bytes_ = c.row_bytes_ * (size_t)opt.block_size;
    c.storage_ = PageBuffer(bytes_needed(opt));
    if (c.storage_.data() == nullptr) {
        return Error::make(ErrorKind::kOutOfMemory, "KV cache: cannot allocate {} bytes for {} positions",
                           bytes_needed(opt), opt.n_cells);
    }
    // Hand out low block ids first (pop_back), so small workloads touch little memory.
    for (int64_t b = c.n_blocks_ - 1; b >= 0; --b) c.free_.push_back((int32_t)b);
    c.seqs_.resize((size_t)opt.n_seq_max);
    return c;
}

int64_t KvCache::blocks_missing(int32_t seq, int64_t n_pos) const {
    const int64_t need = (n_pos + opt_.block_size - 1) / opt_.block_size;
    return std::max<int64_t>(0, need - (int64_t)seqs_[(size_t)seq].blocks.size());
}

Status KvCache::reserve(int32_t seq, int64_t n_pos) {
    if (seq < 0 || seq >= opt_.n_seq_max)
        return Error::bad_argument("sequence id {} out of range [0, {})", seq, opt_.n_seq_max);
    Seq& s = seqs_[(size_t)seq];
    const int64_t need = (n_pos + opt_.block_size - 1) / opt_.block_size;
    const int64_t more = need - (int64_t)s.blocks.size();
    if (more <= 0) return ok_status();
    if (more > (int64_t)free_.size())
        return Error::make(ErrorKind::kContextFull,
                           "KV cache full: sequence {} needs {} positions, {} free of {} in the cache", seq,
                           n_pos, (int64_t)free_.size() * opt_.block_size + (int64_t)s.blocks.size() * opt_.block_size,
                           capacity());
    for (int64_t i = 0; i < more; ++i) {
        s.blocks.push_back(free_.back());
        free_.pop_back();
    }
    return ok_status();
}

void KvCache::truncate(int32_t seq, int64_t from) {
    Seq& s = seqs_[(size_t)seq];
    if (from < s.len) s.len = from;
    const int64_t keep = (s.len + opt_.block_size - 1) / opt_.block_size;
    while ((int64_t)s.blocks.size() > keep) {
        free_.push_back(s.blocks.back());
        s.blocks.pop_back();
    }
}

size_t KvCache::offset(int64_t il, bool v, int32_t seq, int64_t pos) const {
    const Seq& s = seqs_[(size_t)seq];
    const int64_t block = s.blocks[(size_t)(pos / opt_.block_size)];
    const int64_t slot = pos % opt_.block_size;
    return ((size_t)(il * 2 + (v ? 1 : 0)) * (size_t)n_blocks_ + (size_t)block) * block_bytes_ + (size_t)slot * row_bytes_;
}

uint8_t* KvCache::k_row(int64_t il, int32_t seq, int64_t pos) { return storage_.data() + offset(il, false, seq, pos); }
uint8_t* KvCache::v_row(int64_t il, int32_t seq, int64_t pos) { return storage_.data() + offset(il, true, seq, pos); }
const uint8_t* KvCache::k_row(int64_t il, int32_t seq, int64_t pos) const { return storage_.data() + offset(il, false, seq, pos); }
const uint8_t* KvCache::v_row(int64_t il, int32_t seq, int64_t pos) const { return storage_.data() + offset(il, true, seq, pos); }

}  // namespace retort
