// VocabTokenizer: what llama.cpp's SentencePiece and byte-level BPE vocabularies share — the
// token table with llama.cpp's token attributes and fix-ups, special ids and the
// end-of-generation set, the split of the input at special-token texts, and detokenization.
// Subclasses (SpmTokenizer, BpeTokenizer) only encode plain-text fragments and render NORMAL
// tokens. Private to src/tokenizer.
#pragma once

#include "tokenizer/tokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace retort {

class VocabTokenizer : public Tokenizer {
public:
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const override;
    std::string token_to_piece(int32_t id, bool unparse_special) const override;
    std::string decode(const std::vector<int32_t>& ids, bool remove_special,
                       bool unparse_special) const override;

    // Attribute bits of a token: its GGUF type, then llama.cpp's fix-ups (EOG/EOT-looking texts
    // become CONTROL, CONTROL texts containing "unused" also UNUSED, ...).
    enum Attr : uint8_t {
        kAttrUnknown = 1 << 0,
        kAttrUnused = 1 << 1,
        kAttrNormal = 1 << 2,
        kAttrControl = 1 << 3,
        kAttrUserDefined = 1 << 4,
        kAttrByte = 1 << 5,
    };
    uint8_t attr(int32_t id) const { return attrs_[(size_t)id]; }

protected:
    // What the vocab kind implies before the GGUF keys override it (llama_vocab::load).
    struct Defaults {
        int32_t bos = -1, eos = -1, unk = -1;
        bool add_bos = false, add_eos = false, add_space_prefix = false, clean_spaces = false;
    };
    // Reads the token table, types, scores (kept when `want_scores`), special ids, flags and
    // the EOG set. The subclass then sets up its own tables and calls finish_load().
    Status load_vocab(const GgufFile& f, const Defaults& d, bool want_scores);
    // Builds the special-token matcher and the piece cache (calls normal_piece()).
    void finish_load();

    // Appends the tokens of a fragment of plain text. `after_special` is true for the first
    // fragment and for one right after a special token (SentencePiece prepends a space there).
    virtual void encode_fragment(std::string_view text, bool after_special,
                                 std::vector<int32_t>& out) const = 0;
    // Text of a NORMAL token as it appears in decoded output.
    virtual std::string normal_piece(int32_t id) const = 0;

    int32_t text_to_token(std::string_view s) const { return token_ids_.find(s); }
    int32_t byte_from_piece(int32_t id) const;  // "<0xXX>" -> XX, or -1

    const std::string& path() const { return path_; }

    std::vector<uint8_t> attrs_;
    std::vector<float> scores_;  // SentencePiece merge priorities; empty for BPE
    int32_t unk_ = -1;
    bool add_eos_ = false;
    bool clean_spaces_ = false;  // llama.cpp's clean_up_tokenization_spaces on decode

private:
    struct Fragment {
        int32_t token;  // -1: raw text [off, off + len)
        size_t off, len;
    };
    std::vector<Fragment> partition(std::string_view text, bool parse_special) const;
    void clean_up_spaces(std::string& text) const;

    std::string path_;
    // Tokens matched in the input before encoding: CONTROL, USER_DEFINED and UNKNOWN ones,
    // longest text first (llama.cpp's cache_special_tokens order, ties by id).
    std::vector<int32_t> special_order_;
    // Byte trie over those texts; finds which of them occur in an input in one pass.
    struct TrieNode {
        std::vector<std::pair<uint8_t, int32_t>> next;  // byte -> node
        int32_t rank = -1;                               // index into special_order_
    };
    std::vector<TrieNode> trie_;
    bool first_byte_[256] = {};
    std::vector<std::string> piece_cache_;  // token_to_piece(id, unparse_special=true)
};

}  // namespace retort
