#include "kv/block_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

namespace retort {

BlockPool::BlockPool(int64_t n_blocks, int64_t block_size, int32_t n_seq)
    : n_blocks_(n_blocks), block_size_(block_size), refs_((size_t)n_blocks, 0), seqs_((size_t)n_seq) {
    // Hand out low block ids first (pop_back), so small workloads touch little memory.
    free_.reserve((size_t)n_blocks);
    for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back((int32_t)b);
}

void BlockPool::set_len(int32_t seq, int64_t n_pos) {
    Seq& s = seqs_[(size_t)seq];
    assert(n_pos >= 0 && n_pos <= (int64_t)s.blocks.size() * block_size_);
    s.len = n_pos;
}

bool BlockPool::shared(int32_t seq, int64_t pos) const {
    const Seq& s = seqs_[(size_t)seq];
    const size_t i = (size_t)(pos / block_size_);
    return i < s.blocks.size() && refs_[(size_t)s.blocks[i]] > 1;
}

int64_t BlockPool::blocks_missing(int32_t seq, int64_t n_pos) const {
    return std::max<int64_t>(0, blocks_for(n_pos) - n_held(seq));
}

Status BlockPool::reserve(int32_t seq, int64_t n_pos) {
    if (seq < 0 || seq >= n_seq()) return Error::bad_argument("sequence id {} out of range [0, {})", seq, n_seq());
    Seq& s = seqs_[(size_t)seq];
    const int64_t more = blocks_for(n_pos) - (int64_t)s.blocks.size();
    if (more <= 0) return ok_status();
    if (more > n_free())
        return Error::make(ErrorKind::kContextFull,
                           "KV cache full: sequence {} needs {} positions, {} free of {} in the cache", seq, n_pos,
                           (n_free() + (int64_t)s.blocks.size()) * block_size_, n_blocks_ * block_size_);
    for (int64_t i = 0; i < more; ++i) {
        const int32_t b = free_.back();
        free_.pop_back();
        refs_[(size_t)b] = 1;
        s.blocks.push_back(b);
    }
    return ok_status();
}

int64_t BlockPool::truncated_len(int32_t seq, int64_t from) const {
    const Seq& s = seqs_[(size_t)seq];
    const int64_t n = std::max<int64_t>(0, std::min(from, s.len));
    // Keeping part of a shared block would put the next write into it: drop the whole block.
    if (n % block_size_ != 0 && shared(seq, n)) return n / block_size_ * block_size_;
    return n;
}

void BlockPool::release(int32_t block) {
    int32_t& r = refs_[(size_t)block];
    assert(r > 0);
    if (r == 2) --n_shared_;
    if (--r == 0) free_.push_back(block);
}

int64_t BlockPool::truncate(int32_t seq, int64_t from) {
    Seq& s = seqs_[(size_t)seq];
    s.len = truncated_len(seq, from);
    const size_t keep = (size_t)blocks_for(s.len);
    while (s.blocks.size() > keep) {
        release(s.blocks.back());
        s.blocks.pop_back();
    }
    return s.len;
}

Result<BlockPool::Tail> BlockPool::share_prefix(int32_t dst, int32_t src, int64_t n_pos) {
    if (dst < 0 || dst >= n_seq() || src < 0 || src >= n_seq() || dst == src)
        return Error::bad_argument("share_prefix: sequences {} <- {} (of {})", dst, src, n_seq());
    if (n_pos < 0 || n_pos > len(src))
        return Error::bad_argument("share_prefix: {} positions of sequence {}, which holds {}", n_pos, src, len(src));
    clear(dst);
    Seq& d = seqs_[(size_t)dst];
    const Seq& s = seqs_[(size_t)src];
    const int64_t n_full = n_pos / block_size_;
    Tail tail;
    if (share_cost(n_pos) > n_free())
        return Error::make(ErrorKind::kContextFull, "KV cache full: no free block for the last {} positions of a "
                           "shared prefix of {}", n_pos - n_full * block_size_, n_pos);
    for (int64_t i = 0; i < n_full; ++i) {
        const int32_t b = s.blocks[(size_t)i];
        if (refs_[(size_t)b]++ == 1) ++n_shared_;
        d.blocks.push_back(b);
    }
    if (n_pos > n_full * block_size_) {
        tail.src = s.blocks[(size_t)n_full];
        tail.dst = free_.back();
        free_.pop_back();
        refs_[(size_t)tail.dst] = 1;
        d.blocks.push_back(tail.dst);
        tail.pos0 = n_full * block_size_;
        tail.n = n_pos - tail.pos0;
    }
    d.len = n_pos;
    return tail;
}

int64_t BlockPool::freed_if(const std::vector<int64_t>& keep) const {
    // Count, per block, the references the truncations would drop; freed when that is all of them.
    std::vector<int32_t> dropped((size_t)n_blocks_, 0);
    for (size_t i = 0; i < seqs_.size() && i < keep.size(); ++i) {
        if (keep[i] < 0) continue;
        const std::vector<int32_t>& t = seqs_[i].blocks;
        for (size_t j = (size_t)blocks_for(truncated_len((int32_t)i, keep[i])); j < t.size(); ++j) ++dropped[(size_t)t[j]];
    }
    int64_t n = 0;
    for (int64_t b = 0; b < n_blocks_; ++b)
        if (dropped[(size_t)b] > 0 && dropped[(size_t)b] == refs_[(size_t)b]) ++n;
    return n;
}

std::string BlockPool::check() const {
    std::vector<int32_t> count((size_t)n_blocks_, 0);
    for (size_t i = 0; i < seqs_.size(); ++i) {
        const Seq& s = seqs_[i];
        if (s.len < 0 || s.len > (int64_t)s.blocks.size() * block_size_)
            return fmt::format("sequence {} holds {} positions in {} blocks", i, s.len, s.blocks.size());
        for (size_t j = 0; j < s.blocks.size(); ++j) {
            const int32_t b = s.blocks[j];
            if (b < 0 || b >= n_blocks_) return fmt::format("sequence {} holds block {} of {}", i, b, n_blocks_);
            ++count[(size_t)b];
        }
    }
    for (size_t i = 0; i < seqs_.size(); ++i) {
        const Seq& s = seqs_[i];
        for (size_t j = 0; j < s.blocks.size(); ++j)
            if (count[(size_t)s.blocks[j]] > 1 && (int64_t)(j + 1) * block_size_ > s.len)
                return fmt::format("sequence {} ({} positions) holds shared block {} at index {}, not below its end",
                                   i, s.len, s.blocks[j], j);
    }
    std::vector<bool> is_free((size_t)n_blocks_, false);
    for (int32_t b : free_) {
        if (b < 0 || b >= n_blocks_ || is_free[(size_t)b]) return fmt::format("free list: block {} bad or twice", b);
        is_free[(size_t)b] = true;
    }
    int64_t shared = 0;
    for (int64_t b = 0; b < n_blocks_; ++b) {
        if (count[(size_t)b] != refs_[(size_t)b])
            return fmt::format("block {}: {} references counted, {} held", b, refs_[(size_t)b], count[(size_t)b]);
        if ((count[(size_t)b] == 0) != is_free[(size_t)b])
            return fmt::format("block {}: {} holders but {} the free list", b, count[(size_t)b],
                               is_free[(size_t)b] ? "on" : "not on");
        shared += count[(size_t)b] > 1;
    }
    if (shared != n_shared_) return fmt::format("{} shared blocks counted, {} found", n_shared_, shared);
    return "";
}

}  // namespace retort
