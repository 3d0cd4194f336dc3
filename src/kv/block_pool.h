// BlockPool: which fixed-size KV blocks each sequence holds, with a reference count per block, so
// sequences can share the blocks of a common prefix. Bookkeeping only, no rows: KvCache stores
// the keys and values through it, and the scheduler keeps its books with a pool of its own
// (same rules, so the two agree block for block).
//
// Sharing rule: only whole blocks are shared, and a shared block lies entirely below the length
// of every sequence holding it. Writes go to positions >= a sequence's length, so they never
// land in a shared block and no copy-on-write is needed. share_prefix() copies the partly
// filled last block; truncate() inside a shared block drops that block too (the sequence keeps
// the positions up to the block boundary) instead of copying it: truncation never allocates.
#pragma once

#include "util/error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace retort {

class BlockPool {
public:
    BlockPool() = default;
    BlockPool(int64_t n_blocks, int64_t block_size, int32_t n_seq);

    int64_t n_blocks() const { return n_blocks_; }
    int64_t block_size() const { return block_size_; }
    int32_t n_seq() const { return (int32_t)seqs_.size(); }
    int64_t n_free() const { return (int64_t)free_.size(); }
    int64_t n_used() const { return n_blocks_ - n_free(); }  // physical blocks, a shared one once
    int64_t n_shared() const { return n_shared_; }           // blocks held by two sequences or more
    int64_t blocks_for(int64_t n_pos) const { return (n_pos + block_size_ - 1) / block_size_; }

    // Positions seq holds (the next one it writes is len).
    int64_t len(int32_t seq) const { return seqs_[(size_t)seq].len; }
    // Records that seq holds n_pos positions; they must lie in its blocks.
    void set_len(int32_t seq, int64_t n_pos);
    // Block table: position p of seq lives in table(seq)[p / block_size].
    const std::vector<int32_t>& table(int32_t seq) const { return seqs_[(size_t)seq].blocks; }
    int64_t n_held(int32_t seq) const { return (int64_t)seqs_[(size_t)seq].blocks.size(); }
    int32_t refs(int32_t block) const { return refs_[(size_t)block]; }
    // Whether the block holding position pos of seq is held by another sequence too.
    bool shared(int32_t seq, int64_t pos) const;

    // Blocks seq still needs to hold positions [0, n_pos) (0 when it has them).
    int64_t blocks_missing(int32_t seq, int64_t n_pos) const;
    // Appends fresh blocks until seq can hold [0, n_pos); fails (no change) when too few are free.
    Status reserve(int32_t seq, int64_t n_pos);

    // The length truncate(seq, from) leaves: min(from, len), rounded down to a block boundary
    // when it falls inside a shared block.
    int64_t truncated_len(int32_t seq, int64_t from) const;
    // Drops positions >= from (see truncated_len) and the blocks past the new end, reserved
    // ones included; a block is freed when its last holder drops it. Returns the new length.
    int64_t truncate(int32_t seq, int64_t from);
    void clear(int32_t seq) { truncate(seq, 0); }

    // The partly filled last block of a shared prefix, which share_prefix() gives dst a copy of:
    // positions [pos0, pos0 + n) of block `src` go to the same slots of block `dst`.
    struct Tail {
        int32_t src = -1, dst = -1;
        int64_t pos0 = 0, n = 0;
    };
    // Blocks share_prefix(.., n_pos) takes from the free list (after clearing dst).
    int64_t share_cost(int64_t n_pos) const { return n_pos % block_size_ != 0 ? 1 : 0; }
    // Clears dst, then gives it src's first n_pos / block_size blocks (one more reference each)
    // and, when n_pos is not a block multiple, a fresh block for the rest, whose rows the caller
    // copies (Tail). dst then holds n_pos positions. Needs dst != src and n_pos <= len(src);
    // fails with dst cleared when the fresh block is not there.
    Result<Tail> share_prefix(int32_t dst, int32_t src, int64_t n_pos);

    // Blocks that would become free if every sequence s with keep[s] >= 0 were truncated to
    // keep[s] positions (keep[s] < 0: left alone). Planning aid for eviction.
    int64_t freed_if(const std::vector<int64_t>& keep) const;

    // Every invariant (reference counts match the tables, free list exact, shared blocks full);
    // "" when all hold, else what broke.
    std::string check() const;

private:
    struct Seq {
        std::vector<int32_t> blocks;
        int64_t len = 0;
    };
    void release(int32_t block);

    int64_t n_blocks_ = 0;
    int64_t block_size_ = 1;
    int64_t n_shared_ = 0;
    std::vector<int32_t> refs_;  // [n_blocks]: sequences holding each block
    std::vector<int32_t> free_;  // handed out from the back
    std::vector<Seq> seqs_;
};

}  // namespace retort
