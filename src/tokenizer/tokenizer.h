// Tokenizer: text <-> token ids for the vocabularies stored in GGUF files.
// One interface for SentencePiece-style (`tokenizer.ggml.model = llama`) and byte-level BPE
// (`gpt2`) vocabularies; the engine, CLI and server only see this.
#pragma once

#include "gguf/gguf.h"
#include "tokenizer/token_index.h"
#include "util/error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace retort {

// GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
    kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Builds the tokenizer named by tokenizer.ggml.model; works on vocab-only files.
    static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& file);

    // add_bos is llama.cpp's add_special: prepend BOS when the vocab asks for it
    // (tokenizer.ggml.add_bos_token; when absent, true for SentencePiece and llama-bpe vocabs),
    // and append EOS if tokenizer.ggml.add_eos_token. parse_special: CONTROL token texts in
    // `text` become those tokens; USER_DEFINED tokens (<think>, ...) are always matched
    // (llama.cpp semantics). A text that already starts with the BOS text gets two BOS tokens.
    // Invalid UTF-8 is not an error: BPE vocabs read each bad byte as U+FFFD, as llama.cpp does.
    // Every method is const and safe to call from several threads at once.
    virtual std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const = 0;

    // The bytes of one token. CONTROL tokens give their text only when unparse_special.
    virtual std::string token_to_piece(int32_t id, bool unparse_special) const = 0;

    // Whole-sequence decode as llama_detokenize(remove_special, unparse_special).
    virtual std::string decode(const std::vector<int32_t>& ids, bool remove_special,
                               bool unparse_special) const = 0;

    int32_t n_vocab() const { return (int32_t)pieces_.size(); }
    int32_t bos() const { return bos_; }
    int32_t eos() const { return eos_; }
    int32_t eot() const { return eot_; }  // -1 when absent
    bool add_bos_default() const { return add_bos_; }
    // End-of-generation: EOS, EOT, EOM and the other tokens llama.cpp treats as such.
    bool is_eog(int32_t id) const;
    const std::vector<int32_t>& eog_ids() const { return eog_; }
    TokenType token_type(int32_t id) const { return types_[(size_t)id]; }
    // Finds the id of an exact token text, or -1.
    int32_t find_token(std::string_view text) const;
    const std::string& raw_piece(int32_t id) const { return pieces_[(size_t)id]; }
    // SentencePiece vocabs prepend a space to the text; decode() drops it again from the
    // first piece (llama_detokenize), and so does StreamDecoder.
    bool add_space_prefix() const { return add_space_prefix_; }
    // CONTROL or UNKNOWN (after llama.cpp's fix-ups): renders as nothing unless unparse_special.
    bool is_special(int32_t id) const;

protected:
    std::vector<std::string> pieces_;
    std::vector<TokenType> types_;  // GGUF types after llama.cpp's fix-ups (e.g. `</s>` -> control)
    int32_t bos_ = -1, eos_ = -1, eot_ = -1;
    bool add_bos_ = true;
    bool add_space_prefix_ = false;
    std::vector<int32_t> eog_;                                // sorted
    TokenIndex token_ids_;                                    // text -> id, over pieces_
};

// Streaming detokenizer: feed ids one at a time, get text that never ends in the middle of
// a UTF-8 character (incomplete bytes are held until the character completes or is invalid).
// The chunks add up to decode(ids, false, unparse_special), except that llama-bpe's space
// clean-up (" ?" -> "?") is not applied to a stream.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tok, bool unparse_special = false)
        : tok_(tok), unparse_special_(unparse_special) {}
    std::string push(int32_t id);
    std::string flush();  // whatever is held back, invalid bytes included

private:
    const Tokenizer& tok_;
    bool unparse_special_;
    std::string pending_;
    bool first_ = true;
};

}  // namespace retort
