// Batch: the tokens one forward pass evaluates, possibly from several sequences, each with
// its position and sequence id, and whether its logits are wanted. The server's continuous
// batching, speculative decoding and prompt processing all go through this one shape.
#pragma once

#include <cstdint>
#include <vector>

namespace retort {

struct Batch {
    std::vector<int32_t> tokens;
    std::vector<int32_t> pos;     // position of each token in its sequence
    std::vector<int32_t> seq;     // sequence id (KV cache slot)
    std::vector<uint8_t> logits;  // 1 = return this row's logits

    int64_t size() const { return (int64_t)tokens.size(); }
    int64_t n_outputs() const {
        int64_t n = 0;
        for (uint8_t l : logits) n += l;
        return n;
    }
    void clear() { tokens.clear(); pos.clear(); seq.clear(); logits.clear(); }
    void add(int32_t token, int32_t position, int32_t seq_id, bool want_logits) {
        tokens.push_back(token);
        pos.push_back(position);
        seq.push_back(seq_id);
        logits.push_back(want_logits ? 1 : 0);
    }
};

}  // namespace retort
