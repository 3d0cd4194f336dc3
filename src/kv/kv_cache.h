// KvCache: the keys and values of every sequence, stored in fixed-size blocks (paged).
// Bookkeeping (which blocks a sequence owns, how many positions it holds) lives beside the
// storage; the attention reads through block tables, so sequences can grow, be freed and
// (later) share prefix blocks without moving data.
#pragma once

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
    int64_t n_blocks() const { return n_blocks_; }
    int64_t n_free_blocks() const { return (int64_t)free_.size(); }

    // Positions held by a sequence (the next position it expects is seq_len).
    int64_t seq_len(int32_t seq) const { return seqs_[(size_t)seq].len; }
    // Largest position count any one sequence may reach (n_cells).
    int64_t capacity() const { return n_blocks_ * opt_.block_size; }
    // Blocks seq still needs to hold positions [0, n_pos) (0 when it has them).
    int64_t blocks_missing(int32_t seq, int64_t n_pos) const;
    // Makes room for positions [0, n_pos) of seq; fails (no change) when blocks run out.
    Status reserve(int32_t seq, int64_t n_pos);
    // Records that seq now holds n_pos positions (after reserve; used by the forward pass).
    void set_len(int32_t seq, int64_t n_pos) { seqs_[(size_t)seq].len = n_pos; }
    // Drops positions >= from of seq, freeing the blocks past the new end (blocks reserved
    // beyond the old end are freed too).
    void truncate(int32_t seq, int64_t from);
    void clear(int32_t seq) { truncate(seq, 0); }

    // The K / V row of (layer, seq, pos): n_embd_kv elements of `type`. pos < reserved.
    uint8_t* k_row(int64_t il, int32_t seq, int64_t pos);
    uint8_t* v_row(int64_t il, int32_t seq, int64_t pos);
    const uint8_t* k_row(int64_t il, int32_t seq, int64_t pos) const;
    const uint8_t* v_row(int64_t il, int32_t seq, int64_t pos) const;
    size_t row_bytes() const { return row_bytes_; }

private:
    struct Seq {
        std::vector<int32_t> blocks;  // block table: position p lives in blocks[p / block_size]
        int64_t len = 0;
    };
    size_t offset(int64_t il, bool v, int32_t seq, int64_t pos) const;

    KvCacheOptions opt_;
    int64_t n_blocks_ = 0;
    size_t row_bytes_ = 0;
    size_t block_bytes_ = 0;   // one block of K (or V) rows for one layer
    PageBuffer storage_;  // [n_layer][2 (K,V)][n_blocks][block_size][n_embd_kv]
    std::vector<int32_t> free_;
    std::vector<Seq> seqs_;
};

}  // namespace retort
