// BpeTokenizer: byte-level BPE vocabularies (`tokenizer.ggml.model = gpt2`) as llama.cpp runs
// them: the pre-tokenizer regex of tokenizer.ggml.pre splits the text into words, each word's
// bytes map to GPT-2's printable code points, and merges apply lowest rank first.
// Private to src/tokenizer.
#pragma once

#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab_tokenizer.h"

#include <memory>

namespace retort {

class BpeTokenizer final : public VocabTokenizer {
public:
    static Result<std::unique_ptr<Tokenizer>> create(const GgufFile& f);

protected:
    void encode_fragment(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
    std::string normal_piece(int32_t id) const override;

private:
    BpeTokenizer() = default;
    Status load_merges(const GgufFile& f);
    // A symbol id for a text: the token id, or a "virtual" id >= n_vocab for texts that merges
    // produce but the vocab lacks (decoded by llama.cpp's byte fallback at the end).
    int32_t symbol_for(std::string_view text);
    // Buffers reused across the words of one encode() call.
    struct Symbol {
        int32_t id, prev, next;
    };
    struct Candidate {
        int32_t rank, left, left_id, right_id, result;
    };
    struct Scratch {
        std::vector<Symbol> sym;
        std::vector<Candidate> heap;
        std::string text;
    };
    void encode_word(std::string_view word, Scratch& scratch, std::vector<int32_t>& out) const;

    // Merge table keyed by the pair of symbol ids: open addressing, linear probing.
    struct MergeSlot {
        uint64_t key;  // left << 32 | right; kEmpty when free
        int32_t rank, result;
    };
    static constexpr uint64_t kEmpty = ~0ull;
    const MergeSlot* find_merge(int32_t left, int32_t right) const;
    std::vector<MergeSlot> merges_;
    uint64_t merge_mask_ = 0;

    std::unique_ptr<PreTokenizer> pre_;
    bool ignore_merges_ = false;  // llama-bpe: a word that is a whole token is taken as is
    int32_t byte_symbol_[256] = {};              // symbol of each byte's GPT-2 character
    std::string byte_char_[256];                 // that character, UTF-8
    std::vector<std::string> virtual_text_;      // texts of virtual symbols, id - n_vocab
    std::unordered_map<std::string, int32_t> virtual_ids_;
};

}  // namespace retort
