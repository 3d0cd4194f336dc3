// KvCache: the keys and values of every sequence, stored in fixed-size blocks (paged).
// Bookkeeping (which blocks a sequence holds, how many positions, reference counts) is
// BlockPool's; the attention reads through block tables, so sequences can grow, be freed and
// share the blocks of a common prefix without moving data (see block_pool.h for the rules).
#pragma once

#include "kv/block_pool.h"
#include "tensor/dtype.h"
#include "util/error.h"
#include "util/page_buffer.h"

#include <cstdint>
#include <vector>

namespace retort {

struct KvCacheOptions {
    int64_t n_layer = 0;
    int64_t n_embd_kv = 0;      // n_head_kv * head_dim: one K (or V) row per position
    int64_t n_cells = 0;        // total positions over all sequences (rounded up to blocks)
    int64_t block_size = 32;    // positions per block
    int64_t n_seq_max = 1;      // sequence ids are 0 .. n_seq_max-1
    DType type = DType::F16;    // F16 or F32
};

class KvCache {
public:
    static Result<KvCache> create(const KvCacheOptions& opt);

    const KvCacheOptions& options() const { return opt_; }
    size_t size_bytes() const { return storage_.size(); }
    static size_t bytes_needed(const KvCacheOptions& opt);
    int64_t n_blocks() const { return pool_.n_blocks(); }
    int64_t n_free_blocks() const { return pool_.n_free(); }
    int64_t n_used_blocks() const { return pool_.n_used(); }      // physical: a shared block once
    int64_t n_shared_blocks() const { return pool_.n_shared(); }  // held by two sequences or more
    const BlockPool& pool() const { return pool_; }

    // Positions held by a sequence (the next position it expects is seq_len).
    int64_t seq_len(int32_t seq) const { return pool_.len(seq); }
    // Largest position count any one sequence may reach (n_cells).
    int64_t capacity() const { return pool_.n_blocks() * opt_.block_size; }
    // Blocks seq still needs to hold positions [0, n_pos) (0 when it has them).
    int64_t blocks_missing(int32_t seq, int64_t n_pos) const { return pool_.blocks_missing(seq, n_pos); }
    // Makes room for positions [0, n_pos) of seq; fails (no change) when blocks run out.
    Status reserve(int32_t seq, int64_t n_pos) { return pool_.reserve(seq, n_pos); }
    // Records that seq now holds n_pos positions (after reserve; used by the forward pass).
    void set_len(int32_t seq, int64_t n_pos) { pool_.set_len(seq, n_pos); }
    // Drops positions >= from of seq, freeing the blocks past the new end that no other
    // sequence holds (blocks reserved beyond the old end go too). Inside a shared block the
    // whole block is dropped, so the sequence may keep fewer positions than `from`: returns
    // what it keeps. Never allocates, never fails.
    int64_t truncate(int32_t seq, int64_t from) { return pool_.truncate(seq, from); }
    void clear(int32_t seq) { pool_.clear(seq); }
    // dst (cleared first) starts with the first n_pos positions of src: src's whole blocks are
    // shared (not copied), the rows of a partly filled last block are copied into a fresh block.
    // Needs n_pos <= seq_len(src); fails with dst cleared when that fresh block is not free.
    Status share_prefix(int32_t dst, int32_t src, int64_t n_pos);
    // Whether the row of (seq, pos) lies in a block another sequence holds too (never written).
    bool is_shared(int32_t seq, int64_t pos) const { return pool_.shared(seq, pos); }

    // The K / V row of (layer, seq, pos): n_embd_kv elements of `type`. pos < reserved.
    uint8_t* k_row(int64_t il, int32_t seq, int64_t pos);
    uint8_t* v_row(int64_t il, int32_t seq, int64_t pos);
    const uint8_t* k_row(int64_t il, int32_t seq, int64_t pos) const;
    const uint8_t* v_row(int64_t il, int32_t seq, int64_t pos) const;
    size_t row_bytes() const { return row_bytes_; }

private:
    size_t offset(int64_t il, bool v, int32_t seq, int64_t pos) const;
    size_t block_offset(int64_t il, bool v, int32_t block) const;

    KvCacheOptions opt_;
    size_t row_bytes_ = 0;
    size_t block_bytes_ = 0;   // one block of K (or V) rows for one layer
    PageBuffer storage_;  // [n_layer][2 (K,V)][n_blocks][block_size][n_embd_kv]
    BlockPool pool_;
};

}  // namespace retort
