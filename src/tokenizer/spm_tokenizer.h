// SpmTokenizer: SentencePiece-style vocabularies (`tokenizer.ggml.model = llama`) with
// llama.cpp's semantics: spaces become U+2581, a space is prepended to the text, adjacent
// pieces merge best score first, and leftovers fall back to <0xXX> byte tokens.
// Private to src/tokenizer.
#pragma once

#include "tokenizer/vocab_tokenizer.h"

#include <memory>

namespace retort {

class SpmTokenizer final : public VocabTokenizer {
public:
    static Result<std::unique_ptr<Tokenizer>> create(const GgufFile& f);

protected:
    void encode_fragment(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
    std::string normal_piece(int32_t id) const override;

private:
    SpmTokenizer() = default;
    int32_t byte_token_[256] = {};  // <0xXX>, else the one-byte text, else <unk>, else -1
};

}  // namespace retort
